// The cdk8s app that `cdk8s synth` runs (cdk8s.yaml at the repository root; `make synth`): the
// Atelier installation (cdk8s/install.ts, the Helm chart's objects with its default values) and the
// example flythrough RenderJobs (cdk8s/example-job.ts), one YAML file per chart in the output
// directory the CLI names in CDK8S_OUTDIR (dist/cdk8s/): atelier.k8s.yaml and flythrough.k8s.yaml.
// Apply crds/ first; the installation does not include the CRDs.
import { App } from 'cdk8s';
import { FlythroughJobs } from './example-job.js';
import { AtelierInstall } from './install.js';

const app = new App();
new AtelierInstall(app, 'atelier');
new FlythroughJobs(app, 'flythrough', 'studio');
app.synth();
