import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import ajvFormats from 'ajv-formats';
import { type OpenApiDocument, type Operation, pointerSegment } from './openapi.js';
import type { Expectation } from './requests.js';

/** What came back, as the checks need it. */
export interface Answer {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: string;
  /** The server's logged error for a 5xx, when one was captured. */
  loggedError?: { code?: string; message: string; where?: string };
}

/** One broken promise of the API; `detail` is stable enough to group failures by. */
export interface Finding {
  reason: string;
  detail: string;
}

// ajv-formats is CommonJS: under NodeNext its default import is the module object.
const addFormats = ajvFormats.default;

const headerText = (value: string | string[] | number | undefined) =>
  Array.isArray(value) ? value.join(', ') : value === undefined ? undefined : String(value);

export const firstError = (errors: ErrorObject[] | null | undefined) => {
  const error = errors?.[0];
  if (!error) return 'invalid';
  // Array indices vary from answer to answer; the field does not.
  return `${error.instancePath.replace(/\/\d+(?=\/|$)/g, '/*') || '/'} ${error.message ?? error.keyword}`;
};

/** A logged error message without the request's own values, so one cause makes one class. */
function normaliseMessage(error: { code?: string; message: string }): string {
  const normalised = `${error.code ? `[${error.code}] ` : ''}${error.message}`
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, '<uuid>')
    .replace(/"[^"]*"/g, '"…"')
    .replace(/(?<=\s|^)\d+(?=\s|$)/g, 'N');
  return normalised.length > 160 ? `${normalised.slice(0, 160)}…` : normalised;
}

const parseJson = (text: string): { ok: true; value: unknown } | { ok: false } => {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
};

/**
 * ajv over the document itself: it is added whole, so any schema in it is compiled by its
 * JSON pointer (`#/paths/…/schema`) and its `#/components/...` refs resolve in place.
 */
export function createDocumentValidator(doc: OpenApiDocument): (pointer: string) => ValidateFunction {
  const ajv = new Ajv({ strict: false, allErrors: false, validateFormats: true });
  addFormats(ajv);
  ajv.addSchema(doc as object, 'openapi');
  const compiled = new Map<string, ValidateFunction>();
  return (pointer) => {
    let validate = compiled.get(pointer);
    if (!validate) {
      validate = ajv.getSchema(`openapi${pointer}`);
      if (!validate) throw new Error(`no schema at ${pointer}`);
      compiled.set(pointer, validate);
    }
    return validate;
  };
}

/** Checks answers against the document: status, content type, body schema, error envelope. */
export function createAnswerChecker(doc: OpenApiDocument) {
  const validator = createDocumentValidator(doc);
  const errorEnvelope = validator('#/components/schemas/ErrorResponse');

  /** Every way this answer breaks the document or the request's expectation. */
  return function check(operation: Operation, answer: Answer, expectation?: Expectation): Finding[] {
    const findings: Finding[] = [];
    const { status } = answer;
    const parsed = parseJson(answer.body);
    const json = parsed.ok ? parsed.value : undefined;
    const code =
      json !== null && typeof json === 'object' && 'code' in json && typeof json.code === 'string' ? json.code : '';
    if (status >= 500) {
      findings.push({
        reason: 'server error',
        detail: [code || 'no error code', answer.loggedError && normaliseMessage(answer.loggedError)]
          .filter(Boolean)
          .join(': '),
      });
    }
    if (expectation && !meets(expectation, status)) {
      findings.push({
        reason: `expected ${expectation.status} (${expectation.why})`,
        detail: `got ${status}${code ? ` ${code}` : ''}`,
      });
    }
    const documented = operation.spec.responses[String(status)];
    let schemaChecked = false;
    if (!documented) {
      findings.push({ reason: 'undocumented status', detail: code || `${status} without an error code` });
    } else if (status === 204 || status === 304) {
      if (answer.body.length > 0) findings.push({ reason: 'body on a bodiless status', detail: String(status) });
    } else {
      const problems = checkDocumented(operation, status, answer, json, parsed.ok);
      schemaChecked = problems.some((problem) => problem.reason === 'schema mismatch');
      findings.push(...problems);
    }
    // Whatever the document says, a client error carries the envelope (reported once).
    if (status >= 400 && status < 500 && !schemaChecked) {
      if (!parsed.ok) findings.push({ reason: 'error envelope mismatch', detail: 'the body is not JSON' });
      else if (!errorEnvelope(json)) {
        findings.push({ reason: 'error envelope mismatch', detail: firstError(errorEnvelope.errors) });
      }
    }
    return findings;
  };

  function checkDocumented(
    operation: Operation,
    status: number,
    answer: Answer,
    json: unknown,
    isJson: boolean,
  ): Finding[] {
    const content = operation.spec.responses[String(status)]?.content;
    const mediaType = headerText(answer.headers['content-type'])?.split(';', 1)[0]?.trim() ?? '';
    if (!content) {
      return answer.body.length > 0 ? [{ reason: 'undocumented body', detail: mediaType || 'no content-type' }] : [];
    }
    if (!(mediaType in content)) {
      return [{ reason: 'undocumented content-type', detail: mediaType || 'no content-type' }];
    }
    const pointer = `${operation.pointer}/responses/${status}/content/${pointerSegment(mediaType)}/schema`;
    const validate = validator(pointer);
    if (mediaType.endsWith('json')) {
      if (!isJson) return [{ reason: 'schema mismatch', detail: 'the body is not JSON' }];
      return validate(json) ? [] : [{ reason: 'schema mismatch', detail: firstError(validate.errors) }];
    }
    return validate(answer.body) ? [] : [{ reason: 'schema mismatch', detail: firstError(validate.errors) }];
  }
}

export type AnswerChecker = ReturnType<typeof createAnswerChecker>;

// The guard runs before the body is read or validated: its refusals answer any request.
const GUARD_STATUSES = [401, 403];

function meets(expectation: Expectation, status: number): boolean {
  if (GUARD_STATUSES.includes(status)) return true;
  if (expectation.status === 'client-error') return status >= 400 && status < 500;
  return status === expectation.status;
}
