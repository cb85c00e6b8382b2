// Shapes of the REST API's job list and pods, shared by the server (views.ts) and the dashboard's browser code
// (dashboard/api.ts): no imports, so the dashboard's DOM-only type check can read it.

export interface JobSummary {
  namespace: string;
  name: string;
  phase: string;
  replicas: number;
  restartCount: number;
  /** Pods of the current gang Running. */
  readyReplicas: number;
  epoch?: number;
  epochs?: number;
  step?: number;
  totalSteps?: number;
  loss?: number;
  imagesPerSecond?: number;
  etaSeconds?: number;
  knnTop1?: number;
  top1?: number;
  createdAt: string;
  valid: boolean;
}

export interface PodState {
  name: string;
  rank: number | null;
  restartGeneration: number | null;
  phase: string;
  podIP?: string;
  nodeName?: string;
  reason?: string;
  exitCode?: number;
}
