// Entry point: parse config once, start the operator, stop cleanly on SIGTERM/SIGINT, exit when leadership is lost
// (like controller-runtime: a replica that may be acting on stale state must not continue).
import { pino } from 'pino';
import { helpText, loadConfig, wantsHelp } from './config.js';
import { startOperator } from './operator.js';

async function main(): Promise<void> {
  if (wantsHelp(process.argv.slice(2))) {
    process.stdout.write(helpText());
    process.exit(0);
  }
  let config;
  try {
    config = loadConfig(process.argv.slice(2), process.env);
  } catch (err) {
    process.stderr.write(`simclr-operator: ${(err as Error).message} (--help lists the flags)\n`);
    process.exit(2);
  }
  const log = pino({ level: config.logLevel, base: { component: 'simclr-operator', identity: config.identity } });
  const op = await startOperator(config, log);
  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    await op.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  await op.lostLeadership;
  if (!stopping) {
    log.fatal('leader lease lost; exiting');
    process.exit(1);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`simclr-operator: fatal: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
