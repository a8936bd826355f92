// GraphQL over HTTP conformance audit.
//
// Usage: node audit.mjs <graphql-url>
//
// Runs every server audit shipped with graphql-http against the given
// endpoint and prints one line per audit. Failing MUST and SHOULD audits make
// the process exit with code 1; failing MAY audits are reported as warnings
// only.

import { serverAudits } from 'graphql-http';

const BODY_PREVIEW_LENGTH = 200;

function usage() {
  console.error('usage: node audit.mjs <graphql-url>');
  process.exit(2);
}

// Requirement level of an audit, taken from the first word of its name.
function requirementOf(name) {
  return name.split(' ', 1)[0];
}

// MUST and SHOULD failures are fatal for this check, MAY failures are not.
function isRequired(name) {
  const level = requirementOf(name);
  return level === 'MUST' || level === 'SHOULD';
}

// Short, single-line description of the response that made an audit fail.
async function describeResponse(response) {
  if (!response) return '';
  const parts = [`HTTP ${response.status}`];
  const contentType = response.headers.get('content-type');
  parts.push(`content-type ${contentType ?? '(none)'}`);
  try {
    const body = (await response.text()).replace(/\s+/g, ' ').trim();
    if (body) {
      const preview =
        body.length > BODY_PREVIEW_LENGTH
          ? `${body.slice(0, BODY_PREVIEW_LENGTH)}...`
          : body;
      parts.push(`body ${preview}`);
    }
  } catch {
    // The body may already have been consumed by the audit itself.
  }
  return ` [${parts.join('; ')}]`;
}

// Runs a single audit. Audits only throw on fatal problems (for example a
// network error); those are reported as failures of the audit as well.
async function runAudit(audit) {
  try {
    const result = await audit.fn();
    if (result.status === 'ok') return { ok: true };
    return {
      ok: false,
      reason: result.reason + (await describeResponse(result.response)),
    };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const cause = err?.cause?.message ? ` (${err.cause.message})` : '';
    return { ok: false, reason: `fatal error: ${message}${cause}` };
  }
}

function formatLine(label, audit, reason) {
  const line = `${label.padEnd(4)} ${audit.id} ${audit.name}`;
  return reason ? `${line}: ${reason}` : line;
}

async function main() {
  const url = process.argv[2];
  if (!url) usage();

  const audits = serverAudits({ url, fetchFn: fetch });
  let passed = 0;
  let failed = 0;
  let warnings = 0;

  // Audits run one after another to keep the output deterministic and the
  // load on the server low.
  for (const audit of audits) {
    const outcome = await runAudit(audit);
    if (outcome.ok) {
      passed += 1;
      console.log(formatLine('ok', audit));
    } else if (isRequired(audit.name)) {
      failed += 1;
      console.log(formatLine('FAIL', audit, outcome.reason));
    } else {
      warnings += 1;
      console.log(formatLine('WARN', audit, `${outcome.reason} (optional)`));
    }
  }

  if (warnings > 0) {
    console.log(`${warnings} optional (MAY) audit(s) not satisfied`);
  }
  console.log(`audits: ${passed} passed, ${failed} failed`);
  process.exit(failed > 0 ? 1 : 0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
