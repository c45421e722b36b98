/**
 * SQL names: the one definition of what a spec may name, how batchinfer quotes a name in the SQL it
 * runs, and how it shows one to a user. Everything that builds SQL from a spec's names imports these.
 */

/** Names a spec may use for columns, schemas and tables: letters, digits, _; not starting with a digit. */
export const plainIdentifier = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const plainIdentifierRule = 'letters, digits, _; not starting with a digit';

/** PostgreSQL keeps the first 63 bytes of a name (NAMEDATALEN - 1) and silently drops the rest. */
export const maxIdentifierBytes = 63;

export function identifierBytes(name: string): number {
  return Buffer.byteLength(name, 'utf8');
}

/** A name as batchinfer writes it into SQL: always quoted, so case and keywords are kept as the spec spells them. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

export function qualifiedName(schema: string, table: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(table)}`;
}

/**
 * Keywords PostgreSQL does not take as a bare table or column name (reserved, type/function-name and
 * column-name keywords of PostgreSQL 15-17; quote_ident quotes exactly these and unplain names).
 */
const keywords = new Set(
  `all analyse analyze and any array as asc asymmetric authorization between bigint binary bit boolean both case cast char
character check coalesce collate collation column concurrently constraint create cross current_catalog current_date
current_role current_schema current_time current_timestamp current_user dec decimal default deferrable desc distinct do
else end except exists extract false fetch float for foreign freeze from full grant greatest group grouping having ilike
in initially inner inout int integer intersect interval into is isnull join json json_array json_arrayagg json_exists
json_object json_objectagg json_query json_scalar json_serialize json_table json_value lateral leading least left like
limit localtime localtimestamp merge_action national natural nchar none normalize not notnull null nullif numeric offset
on only or order out outer overlaps overlay placing position precision primary real references returning right row
select session_user setof similar smallint some substring symmetric system_user table tablesample then time timestamp to
trailing treat trim true union unique user using values varchar variadic verbose when where window with xmlattributes
xmlconcat xmlelement xmlexists xmlforest xmlnamespaces xmlparse xmlpi xmlroot xmlserialize xmltable`.split(/\s+/),
);

/** A name as a user would type it into psql: bare when that means the same name, else quoted ("Upper", "order"). */
export function displayIdent(name: string): string {
  return /^[a-z_][a-z0-9_]*$/.test(name) && !keywords.has(name) ? name : quoteIdent(name);
}

/** schema.table as a user can paste it into a query: `scores.wine`, `"T"."Upper"`. */
export function displayName(schema: string, table: string): string {
  return `${displayIdent(schema)}.${displayIdent(table)}`;
}
