/**
 * A repository's labels (docs/pulls.md, "Issues"): names unique per repository regardless of case,
 * a colour of six lower-case hex digits (the schema checks it too). Which issues carry them is
 * `issue_labels`; the timeline entries for that are the issue service's.
 */
import type { Queryable } from "../db";
import { AppError, conflict, notFound } from "../errors";
import type { LabelView } from "../wire/pulls";

/** Most labels a repository may have. */
export const MAX_LABELS = 500;

const COLUMNS = "id::int AS id, name, color, description";

export async function listLabels(db: Queryable, repoId: number): Promise<LabelView[]> {
  const r = await db.query<LabelView>(
    `SELECT ${COLUMNS} FROM labels WHERE repo_id = $1 ORDER BY lower(name) LIMIT ${MAX_LABELS}`,
    [repoId],
  );
  return r.rows;
}

export async function findLabel(db: Queryable, repoId: number, name: string): Promise<LabelView | undefined> {
  const r = await db.query<LabelView>(
    `SELECT ${COLUMNS} FROM labels WHERE repo_id = $1 AND lower(name) = lower($2)`,
    [repoId, name],
  );
  return r.rows[0];
}

const labelNotFound = (name: string) => notFound(`label ${JSON.stringify(name)} not found`);
const labelExists = (name: string) =>
  conflict(`a label named ${JSON.stringify(name)} exists`, "label_exists");

export async function createLabel(
  db: Queryable,
  repoId: number,
  input: { name: string; color: string; description: string },
): Promise<LabelView> {
  const count = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM labels WHERE repo_id = $1", [
    repoId,
  ]);
  if ((count.rows[0]?.n ?? 0) >= MAX_LABELS)
    throw new AppError(422, "too_many_labels", `a repository has at most ${MAX_LABELS} labels`);
  const r = await db.query<LabelView>(
    `INSERT INTO labels (repo_id, name, color, description) VALUES ($1, $2, $3, $4)
     ON CONFLICT DO NOTHING RETURNING ${COLUMNS}`,
    [repoId, input.name, input.color, input.description],
  );
  if (!r.rows[0]) throw labelExists(input.name);
  return r.rows[0];
}

export async function updateLabel(
  db: Queryable,
  repoId: number,
  name: string,
  input: { name?: string; color?: string; description?: string },
): Promise<LabelView> {
  const current = await findLabel(db, repoId, name);
  if (!current) throw labelNotFound(name);
  if (input.name !== undefined && input.name.toLowerCase() !== current.name.toLowerCase()) {
    if (await findLabel(db, repoId, input.name)) throw labelExists(input.name);
  }
  const r = await db.query<LabelView>(
    `UPDATE labels SET name = $2, color = $3, description = $4 WHERE id = $1 RETURNING ${COLUMNS}`,
    [
      current.id,
      input.name ?? current.name,
      input.color ?? current.color,
      input.description ?? current.description,
    ],
  );
  return r.rows[0]!;
}

export async function deleteLabel(db: Queryable, repoId: number, name: string): Promise<void> {
  const r = await db.query("DELETE FROM labels WHERE repo_id = $1 AND lower(name) = lower($2)", [
    repoId,
    name,
  ]);
  if (r.rowCount === 0) throw labelNotFound(name);
}

/**
 * The labels named (any case), in the order given, without repeats; 422 naming the first one the
 * repository does not have (GitHub creates it; we would rather not invent colours).
 */
export async function resolveLabels(
  db: Queryable,
  repoId: number,
  names: readonly string[],
): Promise<LabelView[]> {
  if (names.length === 0) return [];
  const r = await db.query<LabelView>(
    `SELECT ${COLUMNS} FROM labels WHERE repo_id = $1 AND lower(name) = ANY($2::text[])`,
    [repoId, names.map((n) => n.toLowerCase())],
  );
  const byName = new Map(r.rows.map((l) => [l.name.toLowerCase(), l]));
  const out: LabelView[] = [];
  for (const name of names) {
    const label = byName.get(name.toLowerCase());
    if (!label)
      throw new AppError(422, "unknown_label", `no label named ${JSON.stringify(name)}`, { label: name });
    if (!out.includes(label)) out.push(label);
  }
  return out;
}
