// A package both builds share (singleton): the shell's copy is the one used.
let calls = 0;
export function stamp(text) { calls += 1; return `${text} (shared lib call ${calls})`; }
