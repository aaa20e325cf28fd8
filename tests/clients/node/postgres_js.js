// postgres.js with its defaults (prepare: true, so every query is a named prepared
// statement), several independent instances over fewer servers in transaction mode.
// Prints "ok <queries>" and exits 0 on success; prints the error and exits 1 otherwise.
const postgres = require('postgres');

const CLIENTS = Number(process.env.CLIENTS || 8);
const ROUNDS = Number(process.env.ROUNDS || 10);

async function worker(i) {
  const sql = postgres({
    host: process.env.PGHOST, port: Number(process.env.PGPORT), username: process.env.PGUSER,
    password: process.env.PGPASSWORD, database: process.env.PGDATABASE, max: 2,
    idle_timeout: 1, connect_timeout: 10,
  });
  let done = 0;
  try {
    for (let n = 0; n < ROUNDS; n++) {
      const [row] = await sql`SELECT ${i}::int * ${n}::int AS v, ${'w' + i}::text AS w`;
      if (row.v !== i * n || row.w !== 'w' + i) throw new Error(`client ${i}: got ${JSON.stringify(row)}`);
      const rows = await sql.begin(async (tx) => {
        await tx`SELECT ${n}::int AS n`;
        return tx`SELECT g FROM generate_series(1, ${3}::int) g`;
      });
      if (rows.length !== 3) throw new Error(`client ${i}: ${rows.length} rows`);
      done += 3;
    }
  } finally {
    await sql.end({ timeout: 5 });
  }
  return done;
}

Promise.all(Array.from({ length: CLIENTS }, (_, i) => worker(i)))
  .then((counts) => { console.log(`ok ${counts.reduce((a, b) => a + b, 0)}`); process.exit(0); })
  .catch((err) => { console.error(`error: ${err.message}`); process.exit(1); });
