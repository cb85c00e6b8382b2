// A planned stop: the kubelet sends SIGTERM when a job is suspended, a pod is deleted or a node is drained, then
// SIGKILL after the pod's grace period. The loop asks at each step boundary whether to stop; the answer is the same on
// every rank (one 4-byte allreduce), because a rank cannot leave a gang alone: the ranks stop at the same step, rank 0
// writes the checkpoint of that step, and a resumed gang loses no step. A signal to any one rank (one deleted pod)
// stops them all.

/** The collective this needs (ProcessGroup). */
export interface StopVote {
  readonly worldSize: number;
  allreduceSum(data: Float32Array): Promise<Float32Array>;
}

export class PlannedStop {
  constructor(
    private readonly group: StopVote,
    /** Aborted when this rank was asked to stop (the CLI aborts it on SIGTERM). */
    private readonly signal: AbortSignal | undefined,
  ) {}

  /** True on every rank when any rank was asked to stop. Every rank must call it at the same points. */
  async agreed(): Promise<boolean> {
    const mine = this.signal?.aborted === true;
    if (this.group.worldSize === 1 || this.signal === undefined) return mine;
    const votes = await this.group.allreduceSum(new Float32Array([mine ? 1 : 0]));
    return votes[0]! > 0;
  }
}
