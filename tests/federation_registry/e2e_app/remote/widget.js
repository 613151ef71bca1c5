import { stamp } from "mf-e2e-lib";

export function render() {
  return stamp(`catalog widget v${REMOTE_VERSION}`);
}
