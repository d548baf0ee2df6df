import type { Command } from 'commander';
import type { CliKit } from './kit.ts';

export function registerModelCommands(program: Command, kit: CliKit): void {
  const model = program.command('model').description('ONNX classifier models');
  kit
    .withGlobals(
      model.command('fit-head').description("fit a violence head on the nsfw backbone's embedding for two folders of labelled frames (JPEG/PNG/PPM)"),
    )
    .requiredOption('--positive <dir>', 'frames that violate (e.g. violent scenes)')
    .requiredOption('--negative <dir>', 'frames that do not')
    .requiredOption('--out <dir>', 'output folder, e.g. models/violence-head (model.onnx + manifest.json)')
    .option('--backbone <manifest>', 'backbone manifest with an embedding output (default models/nsfw)')
    .option('--label <label>', 'signal label', 'violence')
    .option('--source <source>', 'signal source', 'violence')
    .option('--holdout <fraction>', 'held-out fraction per class', (v) => Number(v), 0.25)
    .action(
      async (opts: { positive: string; negative: string; out: string; backbone?: string; label: string; source: string; holdout: number; json?: boolean }) => {
        const { fitHead, formatReport } = await import('../../classifiers/onnx/fit-head.ts');
        const report = await fitHead({
          positiveDir: opts.positive,
          negativeDir: opts.negative,
          outDir: opts.out,
          backboneManifest: opts.backbone,
          label: opts.label,
          source: opts.source,
          holdout: opts.holdout,
          log: opts.json ? undefined : (line) => process.stderr.write(`${line}\n`),
        });
        kit.out(opts, report, formatReport(report));
      },
    );
  kit
    .withGlobals(
      model
        .command('eval <manifest>')
        .description("a deployed head's precision and recall on labelled frames it was not fitted on (held-out videos' frames; docs/violence-head.md)"),
    )
    .requiredOption('--positive <dir>', 'frames that violate')
    .requiredOption('--negative <dir>', 'frames that do not')
    .option('--threshold <score>', "decision threshold (default: the head's suggested threshold from its fit-report.json, else 0.5)", (v) => Number(v))
    .option('--signal <source/label>', "the signal to score (default: the manifest's first)")
    .action(async (manifestPath: string, opts: { positive: string; negative: string; threshold?: number; signal?: string; json?: boolean }) => {
      const { evalHead, formatEvalReport } = await import('../../classifiers/onnx/eval-head.ts');
      const report = await evalHead({
        manifest: manifestPath,
        positiveDir: opts.positive,
        negativeDir: opts.negative,
        ...(opts.threshold !== undefined ? { threshold: opts.threshold } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      kit.out(opts, report, formatEvalReport(report));
    });
  kit
    .withGlobals(model.command('check <manifest>').description('validate a manifest and load its model (shapes, one dummy inference)'))
    .action(async (manifestPath: string, opts: object) => {
      const [{ loadManifest }, { OnnxClassifier }] = await Promise.all([
        import('../../classifiers/onnx/manifest.ts'),
        import('../../classifiers/onnx/classifier.ts'),
      ]);
      const manifest = await loadManifest(manifestPath);
      const classifier = await OnnxClassifier.open({ manifest, workers: 1 });
      await classifier.close();
      kit.out(
        opts,
        { name: manifest.name, version: manifest.version, signals: manifest.signals },
        `${manifest.name} ${manifest.version}: OK — signals ${manifest.signals.map((s) => `${s.source}/${s.label}`).join(', ')}`,
      );
    });
}
