// Writes results to stdout (results only: logs go to stderr) and waits until they are flushed. A reader that
// goes away early (`hipcode logits ... | head`) ends the process quietly, as other command-line tools do.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

export function writeOut(text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    process.stdout.write(text, (error) => {
      if (!error) return resolve();
      if ((error as NodeJS.ErrnoException).code === 'EPIPE') process.exit(0);
      reject(error);
    });
  });
}

export function writeJson(value: unknown): Promise<void> {
  return writeOut(`${JSON.stringify(value)}\n`);
}
