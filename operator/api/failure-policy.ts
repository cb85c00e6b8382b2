// spec.runPolicy.failurePolicy: what a failed rank does to the job, by the trainer's exit code, the pod's or the
// container's reason, or a pod condition (as the Job's podFailurePolicy and JobSet's failurePolicy do). The types
// live here; what a rule does is operator/reconcile/policy/failure-rules.ts.
import { z } from 'zod';

/** FailJob: the job fails at once. RestartJob: the gang restarts, counted against backoffLimit. Ignore: the gang
 * restarts without counting (a rank cannot carry on alone, so "ignoring" a failure still restarts the gang). */
export const FAILURE_ACTIONS = ['FailJob', 'RestartJob', 'Ignore'] as const;
export type FailureAction = (typeof FAILURE_ACTIONS)[number];
export const EXIT_CODE_OPERATORS = ['In', 'NotIn'] as const;
export const MAX_FAILURE_RULES = 20;
const MAX_MATCHERS = 20;

const UNIQUE = 'must not repeat a value';
const unique = (xs: readonly unknown[]): boolean => new Set(xs).size === xs.length;
/** The apiserver refuses repeats of a set by itself ("Duplicate value"), at no CEL cost. */
const SET = { 'x-kubernetes-list-type': 'set' } as const;

export const OnExitCodes = z
  .object({
    operator: z
      .enum(EXIT_CODE_OPERATORS)
      .describe('In: the rule matches an exit code among values; NotIn: any other exit code.'),
    values: z
      .array(z.int().min(1).max(255))
      .min(1)
      .max(255)
      .refine(unique, UNIQUE)
      .meta({ ...SET, description: 'Exit codes of the trainer container (1-255; 0 is success, never a failure).' }),
  })
  .meta({
    description: 'Matches the trainer container\'s exit code. A pod whose trainer never ended (e.g. evicted before it ' +
      'started) matches no onExitCodes.',
  });
export type OnExitCodes = z.infer<typeof OnExitCodes>;

export const OnPodCondition = z
  .object({
    type: z.string().min(1).max(316).describe('A pod condition type, e.g. DisruptionTarget.'),
    status: z.enum(['True', 'False', 'Unknown']).default('True').describe('The status it must have.'),
  })
  .meta({ description: 'Matches a failed pod that has this condition with this status.' });

const NO_MATCHER = 'a failure rule needs onExitCodes, onPodConditions or onReasons: add one (a rule for every failure ' +
  'is what backoffLimit is)';

export const FailureRule = z
  .object({
    name: z.string().max(63).optional().describe('A name for messages and events.'),
    action: z
      .enum(FAILURE_ACTIONS)
      .describe('FailJob: fail the job at once, no restart. RestartJob: restart the gang, counted against ' +
        'backoffLimit. Ignore: restart the gang without counting (a failure that always recurs then restarts forever).'),
    onExitCodes: OnExitCodes.optional(),
    onPodConditions: z
      .array(OnPodCondition)
      .min(1)
      .max(MAX_MATCHERS)
      .optional()
      .describe('Matches when the failed pod has any of these conditions (e.g. DisruptionTarget).'),
    onReasons: z
      .array(z.string().min(1).max(128))
      .min(1)
      .max(MAX_MATCHERS)
      .refine(unique, UNIQUE)
      .meta({ ...SET, description: 'Matches the pod\'s reason (Evicted, DeadlineExceeded, ...) or the trainer ' +
        'container\'s (OOMKilled, Error, ContainerCannotRun, ...).' })
      .optional(),
  })
  .refine((r) => r.onExitCodes !== undefined || r.onPodConditions !== undefined || r.onReasons !== undefined, NO_MATCHER)
  .meta({
    description: 'One rule: an action, and what a failed pod must match (every matcher given).',
    'x-kubernetes-validations': [
      { rule: 'has(self.onExitCodes) || has(self.onPodConditions) || has(self.onReasons)', message: NO_MATCHER },
    ],
  });
export type FailureRule = z.infer<typeof FailureRule>;

export const FailurePolicy = z
  .object({
    rules: z
      .array(FailureRule)
      .max(MAX_FAILURE_RULES)
      .default([])
      .describe('Checked in order against each failed pod of the gang; the first rule that matches decides. A pod no ' +
        'rule matches gets the defaults: exit code 2 (the trainer refused its configuration or data) FailJob; 143 ' +
        '(stopped by SIGTERM after its checkpoint) Ignore; a pod Evicted or with condition DisruptionTarget (the node ' +
        'was drained or short of resources: not the job\'s fault) Ignore; any other failure (75: a lost peer or ' +
        'master; 137: killed; OOMKilled) RestartJob. Across the gang FailJob wins over RestartJob, and RestartJob over Ignore. ' +
        'Pods deleted by others (kubectl delete, a drain, preemption) restart the gang uncounted, whatever the rules.'),
  })
  .meta({ description: 'What a failed rank does to the job, by exit code, reason or pod condition.' });
export type FailurePolicy = z.infer<typeof FailurePolicy>;
