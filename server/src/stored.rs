//! One convention for enums stored as text columns: [`stored_enum!`] declares the enum (also a
//! GraphQL enum), its `as_str` (the stored text) and `FromStr`, which refuses a value the code
//! does not know — a corrupt or newer row is an internal error, never silently a default.

/// Declares a stored enum: `stored_enum! { /// doc  pub enum Name { /// doc  Variant = "text", … } }`.
#[macro_export]
macro_rules! stored_enum {
    ($(#[$meta:meta])* $vis:vis enum $name:ident {
        $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)?
    }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, async_graphql::Enum)]
        $vis enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored text.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::error::AppError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                match text {
                    $($text => Ok($name::$variant),)+
                    other => Err($crate::error::AppError::internal(anyhow::anyhow!(
                        "unknown {} {:?} in the database",
                        stringify!($name),
                        other
                    ))),
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    stored_enum! {
        /// A test enum.
        pub enum Colour {
            /// Red.
            Red = "red",
            /// Dark blue.
            DarkBlue = "dark_blue",
        }
    }

    #[test]
    fn every_value_round_trips_and_unknown_text_is_refused() {
        for colour in Colour::ALL {
            assert_eq!(colour.as_str().parse::<Colour>().unwrap(), *colour);
        }
        assert_eq!(Colour::DarkBlue.as_str(), "dark_blue");
        assert!("green".parse::<Colour>().is_err());
        assert!("Red".parse::<Colour>().is_err());
    }
}
