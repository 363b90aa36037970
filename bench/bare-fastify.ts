/**
 * The baseline: a bare Fastify 5 hello-world with no logger and no plugins, listening on
 * $HOST:$PORT. Started by the bench harness in its own process (`node --import tsx`).
 */
import Fastify from 'fastify';

const host = process.env.HOST ?? '127.0.0.1';
const port = Number(process.env.PORT ?? 0);

const app = Fastify({ logger: false });
app.get('/', async () => ({ hello: 'world' }));

const stop = () => {
  void app.close().then(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);

await app.listen({ host, port });
