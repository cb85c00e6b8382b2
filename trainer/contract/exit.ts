// How the trainer ends, as the operator reads it from the pod: the exit code says whether a retry can help, and the
// one-line reason goes to the container's termination message (Kubernetes reports that file's content in the pod's
// status, so the reason reaches the job's condition without anyone reading logs).

/** Exit codes: 0 done; 1 an unexpected failure (a bug, a provider that cannot load); 2 the configuration or the data
 * is wrong, and the same pod would fail the same way again; 75 a peer or the master was lost (a restart of the gang
 * gets past it). The operator's failure policy reads them (spec.runPolicy.failurePolicy). */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_CONFIG_OR_DATA = 2;
/** The gang lost a member: a collective failed or timed out (a peer died, its node went away) or the rendezvous never
 * completed. 75 is sysexits.h's EX_TEMPFAIL ("try again later"): distinct from anything Node.js itself exits with. */
export const EXIT_PEER_LOST = 75;
/** Stopped on request (SIGTERM: suspend, pod deletion, drain) after rank 0 wrote the checkpoint of the step every
 * rank stopped at: neither done nor failed, and a resume loses no step. 128 + SIGTERM, as a shell reports a process
 * the signal ended, so supervisors that know only that convention read it the same way. */
export const EXIT_STOPPED = 143;

/** Where the kubelet mounts the termination message file unless the pod says otherwise. */
export const DEFAULT_TERMINATION_MESSAGE_PATH = '/dev/termination-log';
/** Env variable naming the termination message file (the operator sets it to the container's
 * terminationMessagePath); without it the trainer writes the default path only when that file already exists. */
export const TERMINATION_MESSAGE_ENV = 'SIMCLR_TERMINATION_MESSAGE_PATH';
/** The kubelet reads at most this many bytes of the file. */
export const MAX_TERMINATION_MESSAGE_BYTES = 4096;
