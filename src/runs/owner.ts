import os from 'node:os';

/** Who owns a run scored in this process (batchinfer.runs.owner). */
export const inlineOwner = () => `inline ${os.hostname()} pid ${process.pid}`;
