// node-postgres named queries ({name, text, values}: Parse once per connection under that
// name, Bind/Execute after) from many connections over fewer servers in transaction mode.
// Prints "ok <queries>" and exits 0 on success; prints the error and exits 1 otherwise.
const { Client } = require('pg');

const CLIENTS = Number(process.env.CLIENTS || 12);
const ROUNDS = Number(process.env.ROUNDS || 10);
const config = {
  host: process.env.PGHOST, port: Number(process.env.PGPORT), user: process.env.PGUSER,
  password: process.env.PGPASSWORD, database: process.env.PGDATABASE,
};

async function worker(i) {
  const client = new Client(config);
  await client.connect();
  let done = 0;
  try {
    for (let n = 0; n < ROUNDS; n++) {
      const r = await client.query({ name: 'add', text: 'SELECT $1::int + $2::int AS v', values: [i, n] });
      if (r.rows[0].v !== i + n) throw new Error(`client ${i}: got ${r.rows[0].v}, want ${i + n}`);
      await client.query('BEGIN');
      const t = await client.query({ name: 'echo', text: 'SELECT $1::text AS t', values: [`c${i}`] });
      if (t.rows[0].t !== `c${i}`) throw new Error(`client ${i}: got ${t.rows[0].t}`);
      await client.query('COMMIT');
      done += 2;
    }
  } finally {
    await client.end();
  }
  return done;
}

Promise.all(Array.from({ length: CLIENTS }, (_, i) => worker(i)))
  .then((counts) => { console.log(`ok ${counts.reduce((a, b) => a + b, 0)}`); process.exit(0); })
  .catch((err) => { console.error(`error: ${err.message}`); process.exit(1); });
