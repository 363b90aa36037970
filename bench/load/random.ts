/** The load test's seeded PRNG (mulberry32) is the fixtures' one, so a run's choices repeat from one run to the next. */
export { createRng as createRandom, type Rng as Random } from '../../test/fixtures/security/rng.js';
