// kwok v0.7.0 Stage configuration used by harness.ts (kept as a TS string so it ships with the compiled tests).
// kwok drops ALL its built-in Pod stages once a config has any Pod stage, so this carries the whole built-in "fast"
// set verbatim from kwok v0.7.0 (kustomize/stage/pod/fast: pod-ready, pod-complete [Job-owned pods only],
// pod-delete), the chaos stage pod-container-running-failed (kustomize/stage/pod/chaos, label
// pod-container-running-failed.stage.kwok.x-k8s.io=true), and two of ours, driven by labels (see KWOK in harness.ts):
//   kwok.simclr.dev/complete=true -> Succeeded (exit 0)
//   kwok.simclr.dev/fail=true     -> Failed (exit code / reason / message from kwok.simclr.dev/* annotations)
// both optionally delayed by the annotation kwok.simclr.dev/delay (Go duration, e.g. "2s").
// Node stages are not set, so kwok keeps its built-in node-initialize and node-heartbeat-with-lease.
// If the kwok version in build.sh changes, refresh the upstream stages from the same tag (v0.8.0 changed the format).
export const KWOK_STAGES_YAML = `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-ready
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.podIP'
      operator: 'DoesNotExist'
  next:
    statusTemplate: |
      {{ $now := Now }}

      conditions:
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: Initialized
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: Ready
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: ContainersReady
      {{ range .spec.readinessGates }}
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: {{ .conditionType | Quote }}
      {{ end }}

      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: true
        restartCount: 0
        state:
          running:
            startedAt: {{ $now | Quote }}
      {{ end }}

      initContainerStatuses:
      {{ range .spec.initContainers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: true
        restartCount: 0
        {{ if eq .restartPolicy "Always" }}
        started: true
        state:
          running:
            startedAt: {{ $now | Quote }}
        {{ else }}
        state:
          terminated:
            exitCode: 0
            finishedAt: {{ $now | Quote }}
            reason: Completed
            startedAt: {{ $now | Quote }}
        {{ end }}
      {{ end }}

      hostIP: {{ NodeIPWith .spec.nodeName | Quote }}
      podIP: {{ PodIPWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) | Quote }}
      phase: Running
      startTime: {{ $now | Quote }}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-complete
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values:
      - 'Running'
    - key: '.metadata.ownerReferences.[].kind'
      operator: 'In'
      values:
      - 'Job'
  next:
    statusTemplate: |
      {{ $now := Now }}
      {{ $root := . }}
      containerStatuses:
      {{ range $index, $item := .spec.containers }}
      {{ $origin := index $root.status.containerStatuses $index }}
      - image: {{ $item.image | Quote }}
        name: {{ $item.name | Quote }}
        ready: false
        restartCount: 0
        started: false
        state:
          terminated:
            exitCode: 0
            finishedAt: {{ $now | Quote }}
            reason: Completed
            startedAt: {{ $now | Quote }}
      {{ end }}
      phase: Succeeded
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-delete
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'Exists'
  next:
    finalizers:
      empty: true
    delete: true
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-container-running-failed
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.labels["pod-container-running-failed.stage.kwok.x-k8s.io"]'
      operator: 'In'
      values:
      - 'true'
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values:
      - 'Running'
  delay:
    durationMilliseconds: 1000
    durationFrom:
      expressionFrom: '.metadata.annotations["pod-container-running-failed.stage.kwok.x-k8s.io/delay"]'
    jitterDurationMilliseconds: 1000
    jitterDurationFrom:
      expressionFrom: '.metadata.annotations["pod-container-running-failed.stage.kwok.x-k8s.io/jitter-delay"]'
  weight: 10000
  weightFrom:
    expressionFrom: '.metadata.annotations["pod-container-running-failed.stage.kwok.x-k8s.io/weight"]'
  next:
    statusTemplate: |
      {{ $now := Now }}
      {{ $defaultReason := "containerFailed" }}
      {{ $defaultMessage := "container failed" }}
      {{ $defaultExitCode := 1 }}
      {{ $annotations := or .metadata.annotations dict }}
      {{ $containerName := or ( index $annotations "pod-container-running-failed.stage.kwok.x-k8s.io/container-name" ) "" }}
      {{ $failureReason := or ( index $annotations "pod-container-running-failed.stage.kwok.x-k8s.io/reason" ) $defaultReason }}
      {{ $failureMessage := or ( index $annotations "pod-container-running-failed.stage.kwok.x-k8s.io/message" ) $defaultMessage }}
      {{ $failureExitCode := or ( index $annotations "pod-container-running-failed.stage.kwok.x-k8s.io/exit-code" ) $defaultExitCode }}
      conditions:
      - lastProbeTime: null
        lastTransitionTime: {{ $now | Quote }}
        status: "True"
        reason: ""
        type: Initialized
      - lastTransitionTime: {{ $now | Quote }}
        status: "False"
        reason: ""
        type: Ready
      - lastTransitionTime: {{ $now | Quote }}
        status: "False"
        reason: ""
        type: ContainersReady
      containerStatuses:
      {{ range $index, $item := .spec.containers }}
      {{ if or ( not $containerName ) ( eq $item.name $containerName ) }}
      - image: {{ $item.image | Quote }}
        name: {{ $item.name | Quote }}
        ready: false
        restartCount: 0
        started: false
        state:
          terminated:
            exitCode: {{ $failureExitCode }}
            finishedAt: {{ $now | Quote }}
            reason: {{ $failureReason }}
            message: {{ $failureMessage }}
            startedAt: {{ $now | Quote }}
      {{ else }}
      - image: {{ $item.image | Quote }}
        name: {{ $item.name | Quote }}
        ready: true
        restartCount: 0
        state:
          running:
            startedAt: {{ $now | Quote }}
      {{ end }}
      {{ end }}
      hostIP: {{ NodeIPWith .spec.nodeName | Quote }}
      podIP: {{ PodIPWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) | Quote }}
      phase: Failed
      startTime: {{ $now | Quote }}
---
${endPodStage({ name: 'simclr-pod-succeed', label: 'complete', phase: 'Succeeded', exitCode: '0', reason: 'Completed' })}---
${endPodStage({
  name: 'simclr-pod-fail',
  label: 'fail',
  phase: 'Failed',
  vars: [
    '{{ $annotations := or .metadata.annotations dict }}',
    '{{ $exitCode := or ( index $annotations "kwok.simclr.dev/exit-code" ) "1" }}',
    '{{ $reason := or ( index $annotations "kwok.simclr.dev/reason" ) "Error" }}',
    '{{ $message := or ( index $annotations "kwok.simclr.dev/message" ) "container failed" }}',
  ],
  exitCode: '{{ $exitCode }}',
  reason: '{{ $reason | Quote }}',
  message: '{{ $message | Quote }}',
})}`;

/** One of our two stages that end a Running pod: every container terminates, the pod goes to `phase`. */
interface EndPodStage {
  name: string;
  /** Pods labelled `kwok.simclr.dev/<label>=true` take this stage (after the kwok.simclr.dev/delay annotation). */
  label: string;
  phase: 'Succeeded' | 'Failed';
  /** Go-template lines that set variables for the fields below. */
  vars?: readonly string[];
  /** Go-template values of the containers' terminated state. */
  exitCode: string;
  reason: string;
  message?: string;
}

function endPodStage(s: EndPodStage): string {
  // The kubelet's reason on the Ready and ContainersReady conditions of a finished pod.
  const podReason = s.phase === 'Succeeded' ? 'PodCompleted' : 'PodFailed';
  const lines = (xs: readonly string[], indent: string): string => xs.map((x) => `${indent}${x}\n`).join('');
  return `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: ${s.name}
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.labels["kwok.simclr.dev/${s.label}"]'
      operator: 'In'
      values:
      - 'true'
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values:
      - 'Running'
  delay:
    durationMilliseconds: 0
    durationFrom:
      expressionFrom: '.metadata.annotations["kwok.simclr.dev/delay"]'
  next:
    statusTemplate: |
      {{ $now := Now }}
${lines(s.vars ?? [], '      ')}      conditions:
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: Initialized
      - lastTransitionTime: {{ $now | Quote }}
        status: "False"
        reason: ${podReason}
        type: Ready
      - lastTransitionTime: {{ $now | Quote }}
        status: "False"
        reason: ${podReason}
        type: ContainersReady
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: false
        restartCount: 0
        started: false
        state:
          terminated:
            exitCode: ${s.exitCode}
            finishedAt: {{ $now | Quote }}
            reason: ${s.reason}
${lines(s.message === undefined ? [] : [`message: ${s.message}`], '            ')}            startedAt: {{ $now | Quote }}
      {{ end }}
      phase: ${s.phase}
`;
}
