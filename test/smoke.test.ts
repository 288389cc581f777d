import { PGlite } from "@electric-sql/pglite";

test("PGlite answers a query under jest ESM", async () => {
  const db = new PGlite();
  const r = await db.query<{ n: number }>("select 1 + 1 as n");
  expect(r.rows[0]?.n).toBe(2);
  await db.close();
});
