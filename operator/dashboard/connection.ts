// The header's connection indicator: live, or stale since a given time while the page reconnects.
import { clock } from './format.js';

export interface Connection {
  fresh(): void;
  stale(): void;
  final(text: string): void;
}

export function connection(el: HTMLElement): Connection {
  let staleSince: Date | undefined;
  let ever = false;
  const show = (state: string, text: string): void => {
    el.dataset['state'] = state;
    el.textContent = text;
  };
  show('connecting', 'connecting…');
  return {
    fresh(): void {
      ever = true;
      staleSince = undefined;
      show('live', 'live');
    },
    stale(): void {
      staleSince ??= new Date();
      show(ever ? 'stale' : 'connecting',
        ever ? `stale: no update since ${clock(staleSince)} UTC, reconnecting…` : 'connecting…');
    },
    final(text: string): void {
      staleSince = undefined;
      show('final', text);
    },
  };
}
