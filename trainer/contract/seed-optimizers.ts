// The seed's optimizer names (jramapuram/SimCLR main.py, build_optimizer), mapped to ours where we compute the same
// update, refused with the nearest equivalent where we do not. The seed lower-cases and strips the name; a `lars_`
// prefix wraps the base optimizer named by the last `_` part in LARS (trust coefficient 1e-3, eps 0).
import { OPTIMIZERS } from './train-config.js';

export type SeedOptimizer = { readonly ours: string } | { readonly refused: string };

const OURS: readonly string[] = OPTIMIZERS;

/** Seed names that are the same update as one of ours (at our default --momentum 0.9). */
const ALIASES: Readonly<Record<string, string>> = {
  lars_momentum: 'lars', // the seed's default: LARS over SGD with momentum 0.9
  momentum: 'sgd', // SGD with momentum 0.9
};

/** Seed names we cannot compute, with the nearest thing we can. */
const REFUSED: Readonly<Record<string, string>> = {
  lars_sgd: 'LARS over plain SGD is --optimizer=lars --momentum=0',
  lars_adam: 'LARS wraps SGD with momentum here: use --optimizer=lars (the seed\'s default, lars_momentum), or --optimizer=adam without LARS',
  rmsprop: 'RMSprop is not implemented: use --optimizer=lars (the seed\'s default), sgd, adam or adamw',
  adadelta: 'Adadelta is not implemented: use --optimizer=lars (the seed\'s default), sgd, adam or adamw',
  lbfgs: 'L-BFGS is not implemented (it needs a closure over the whole batch): use --optimizer=lars, sgd, adam or adamw',
  lamb: 'LAMB (the seed\'s Apex FusedLAMB) is not implemented: use --optimizer=lars, its layer-wise SGD counterpart',
};

/** Our optimizer for a value of --optimizer: ours as is, a seed alias, or a refusal with a hint. */
export function resolveOptimizerName(value: string): SeedOptimizer | undefined {
  if (OURS.includes(value)) return { ours: value };
  const name = value.toLowerCase().trim();
  if (OURS.includes(name)) return { ours: name };
  if (ALIASES[name] !== undefined) return { ours: ALIASES[name] };
  if (REFUSED[name] !== undefined) return { refused: REFUSED[name] };
  if (name.startsWith('lars_')) return { refused: REFUSED.lars_adam };
  return undefined; // not a seed name either: the schema's enum error lists ours
}

/** The seed names accepted as aliases, for --help. */
export const SEED_OPTIMIZER_ALIASES: Readonly<Record<string, string>> = ALIASES;
