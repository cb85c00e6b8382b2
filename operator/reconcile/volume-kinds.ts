// Which volume kinds a job may mount: the safe ones anywhere, the others (hostPath, in-tree drivers) only where the
// cluster admin allows them (the chart's jobs.extraVolumeKinds, passed as --extra-volume-kinds). The chart's
// ValidatingAdmissionPolicy refuses the rest at admission; this refuses them where that policy is not installed.
import { VOLUME_SOURCE_KINDS, type SimCLRJob } from '../api/schema.js';

/** The chart value that allows more kinds, named in every refusal. */
export const EXTRA_VOLUME_KINDS_VALUE = 'jobs.extraVolumeKinds';

export function volumeKindProblem(job: SimCLRJob, extraKinds: readonly string[]): string | undefined {
  const allowed = new Set<string>([...VOLUME_SOURCE_KINDS, ...extraKinds]);
  const refs: [string, Record<string, unknown> | undefined][] = [
    ['spec.data.volume', job.spec.data?.volume],
    ['spec.checkpoint.volume', job.spec.checkpoint?.volume],
    ...(job.spec.volumes ?? []).map((v, i): [string, Record<string, unknown>] => [`spec.volumes[${i}].volume`, v.volume]),
  ];
  for (const [field, volume] of refs) {
    const kinds = Object.entries(volume ?? {}).filter(([, v]) => v !== undefined).map(([k]) => k);
    const refused = kinds.filter((k) => !allowed.has(k));
    if (refused.length > 0) {
      return `${field}: ${refused.join(', ')} volumes are not allowed in this cluster (allowed: ${[...allowed].join(', ')}; ` +
        `a cluster admin allows more kinds with the chart value ${EXTRA_VOLUME_KINDS_VALUE})`;
    }
  }
  return undefined;
}
