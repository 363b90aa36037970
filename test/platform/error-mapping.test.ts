import { describe, expect, it } from 'vitest';
import { toAppError } from '../../src/plugins/error-handler.js';

// Small tier: how unexpected errors become answers.
describe('unexpected errors as answers', () => {
  it('answers a connection pool that stayed busy for its whole wait with 503 and Retry-After, not 500', () => {
    // What drizzle throws when node-postgres's pool gives up: the pool's error as the cause.
    const error = new Error('Failed query: insert into "users" …', {
      cause: new Error('timeout exceeded when trying to connect'),
    });
    const answer = toAppError(error as never);
    expect(answer.code).toBe('SERVICE_UNAVAILABLE');
    expect(answer.statusCode).toBe(503);
    expect(answer.headers).toEqual({ 'retry-after': '1' });
  });

  it('keeps any other unexpected error a 500 that names nothing', () => {
    const answer = toAppError(new Error('timeout exceeded somewhere else') as never);
    expect(answer.code).toBe('INTERNAL_ERROR');
    expect(answer.message).toBe('Internal server error');
  });
});
