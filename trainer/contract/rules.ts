// Cross-field rules written once, as small expressions that both evaluate in TypeScript (the trainer's config
// validation) and print as CEL (the apiserver's admission, through the operator's CRD), so the two cannot drift.
// Only what the rules need: integer arithmetic without division, comparisons, boolean logic, set membership and
// presence. `%` by zero is avoided by the rules themselves (see celRule for the range guards).

/** The flat values a rule reads: a TrainConfig, or the operator's view of a SimCLRJob spec. */
export type RuleInput = Readonly<Record<string, unknown>>;

/** How a CEL rule names a field: its value, and whether it is set (for optional fields). */
export interface CelFields {
  value(key: string): string;
  isSet(key: string): string;
}

export interface Expr<T> {
  eval(c: RuleInput): T;
  cel(f: CelFields): string;
  /** Every field the expression reads. */
  readonly keys: readonly string[];
}

type Num = Expr<number>;
type Bool = Expr<boolean>;

const keysOf = (...xs: ReadonlyArray<Expr<unknown>>): string[] => [...new Set(xs.flatMap((x) => x.keys))];

function binary<A, R>(op: string, a: Expr<A>, b: Expr<A>, f: (x: A, y: A) => R): Expr<R> {
  return { eval: (c) => f(a.eval(c), b.eval(c)), cel: (s) => `(${a.cel(s)} ${op} ${b.cel(s)})`, keys: keysOf(a, b) };
}

export const num = (key: string): Num => ({ eval: (c) => c[key] as number, cel: (s) => s.value(key), keys: [key] });
export const flag = (key: string): Bool => ({ eval: (c) => c[key] === true, cel: (s) => s.value(key), keys: [key] });
export const isSet = (key: string): Bool => ({ eval: (c) => c[key] !== undefined, cel: (s) => s.isSet(key), keys: [key] });
export const lit = (n: number): Num => {
  if (!Number.isSafeInteger(n)) throw new Error(`rule literal ${n}: integers only (CEL int)`);
  return { eval: () => n, cel: () => String(n), keys: [] };
};
export const mod = (a: Num, b: Num): Num => binary('%', a, b, (x, y) => x % y);
export const mul = (a: Num, b: Num): Num => binary('*', a, b, (x, y) => x * y);
export const eq = (a: Num, b: Num): Bool => binary('==', a, b, (x, y) => x === y);
export const le = (a: Num, b: Num): Bool => binary('<=', a, b, (x, y) => x <= y);
export const gt = (a: Num, b: Num): Bool => binary('>', a, b, (x, y) => x > y);
export const not = (a: Bool): Bool => ({ eval: (c) => !a.eval(c), cel: (s) => `!${a.cel(s)}`, keys: a.keys });

export function or(...xs: Bool[]): Bool {
  return { eval: (c) => xs.some((x) => x.eval(c)), cel: (s) => `(${xs.map((x) => x.cel(s)).join(' || ')})`, keys: keysOf(...xs) };
}
export function and(...xs: Bool[]): Bool {
  return { eval: (c) => xs.every((x) => x.eval(c)), cel: (s) => `(${xs.map((x) => x.cel(s)).join(' && ')})`, keys: keysOf(...xs) };
}
/** A string field is one of `values`. */
export function oneOf(key: string, values: readonly string[]): Bool {
  const list = `[${values.map((v) => `'${v}'`).join(', ')}]`;
  return { eval: (c) => values.includes(c[key] as string), cel: (s) => `(${s.value(key)} in ${list})`, keys: [key] };
}

/** One cross-field rule. */
export interface ConfigRule {
  /** The field the message tells the user to change (the error's path). */
  readonly key: string;
  /** True for a valid config. */
  readonly holds: Bool;
  /** The message when it does not hold. `{key}` names a field: `--flag=value` for the trainer, the spec path for the
   * apiserver. One line that says what to change. */
  readonly message: string;
}

/** Fills `{key}` placeholders of a rule's message. */
export function renderMessage(message: string, name: (key: string) => string): string {
  return message.replace(/\{([A-Za-z][A-Za-z0-9]*)\}/g, (_m, key: string) => name(key));
}

/** Integer fields' lower bounds: a rule is checked once the fields it reads are in range (the range check reports
 * the rest), so CEL never divides by a zero that the schema already refuses (`replicas: 0`). */
export function celRule(rule: ConfigRule, fields: CelFields, minimum: (key: string) => number | undefined): string {
  const guards = rule.holds.keys.flatMap((k) => {
    const min = minimum(k);
    return min === undefined ? [] : [`${fields.value(k)} < ${min}`];
  });
  const body = rule.holds.cel(fields);
  return guards.length === 0 ? body : `${guards.join(' || ')} || ${body}`;
}
