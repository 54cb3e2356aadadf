// The pipeline examples in examples/pipelines/ are checked by the tools their platforms use:
// - the GitHub Actions workflow by GitHub's own workflow parser (@actions/workflow-parser, driven by
//   GitHub's workflow schema), which also rejects a broken copy;
// - the GitLab CI file by GitLab's CI JSON schema as gitlab-ci-local bundles and applies it (with its
//   own rules evaluation), which also rejects a broken copy;
// - the Argo Workflows template by the API server, with Argo's full CRDs (from the argo-workflows Go
//   module, test/cli/argo.ts) installed: created with strict field validation, and each RenderJob its
//   steps apply, with Argo's parameters filled in, accepted by the RenderJob CRD.
// Every `atelier submit` command line in them is parsed with submit's own flag parser.
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { convertWorkflowTemplate, NoOperationTraceWriter, parseWorkflow, type WorkflowTemplate } from '@actions/workflow-parser';
import { load, loadAll } from 'js-yaml';
import { parseSubmitArgs } from '../../operator/src/commands/submit.js';
import { installCrds } from '../support/crds.js';
import { clients, freshNamespace, repoRoot, type Clients } from '../support/testbed.js';
import { argoCrd, installCrd, rawRequest } from './argo.js';

// Parsed YAML, read loosely on purpose.
type Obj = Record<string, any>;

const run = promisify(execFile);
const dir = path.join(repoRoot, 'examples/pipelines');
const read = (f: string) => readFileSync(path.join(dir, f), 'utf8');

/**
 * The flags of each `… submit -f …` command in a script, tokenized as a shell would (quotes kept
 * whole, stopping at a redirection), with $VAR and ${VAR} expanded from vars (an unknown one fails).
 */
function submitCommands(script: string, vars: Record<string, string>): string[][] {
  const out: string[][] = [];
  for (const line of script.replace(/\\\n\s*/g, ' ').split('\n')) {
    const at = line.search(/\ssubmit -f /);
    if (at < 0) continue;
    const command = line.slice(at).replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (m, v: string) => {
      if (!(v in vars)) throw new Error(`${m} in a submit command is not defined by the pipeline`);
      return vars[v]!;
    });
    const tokens: string[] = [];
    for (const m of command.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)) {
      const t = m[1] ?? m[2] ?? m[3]!;
      if (m[3] && /^[<>|]/.test(t)) break;
      tokens.push(t);
    }
    out.push(tokens.slice(1)); // after "submit"
  }
  return out;
}

function expectWaitsForJson(argv: string[]) {
  const v = parseSubmitArgs(argv);
  expect(v).toMatchObject({ wait: true, output: 'json' });
  expect(v.timeout).toBeDefined(); // a pipeline never waits forever
  expect(v.file.length).toBeGreaterThan(0);
}

describe('examples/pipelines without a cluster', () => {
  test('holds the three pipelines, each opening with a comment that says what it does', () => {
    expect(readdirSync(dir).sort()).toEqual(['README.md', 'argo-workflow.yaml', 'github-actions.yml', 'gitlab-ci.yml']);
    for (const f of ['argo-workflow.yaml', 'github-actions.yml', 'gitlab-ci.yml']) expect(read(f)).toMatch(/^# \S/);
  });

  async function githubParse(content: string): Promise<{ errors: string[]; template: WorkflowTemplate }> {
    const parsed = parseWorkflow({ name: 'render.yml', content }, new NoOperationTraceWriter());
    const template = await convertWorkflowTemplate(parsed.context, parsed.value!);
    return { errors: [...parsed.context.errors.getErrors().map((e) => e.message), ...(template.errors ?? []).map((e) => e.Message)], template };
  }

  test('GitHub Actions: GitHub\'s workflow parser accepts the workflow and finds submit --wait -o json with every exit code handled', async () => {
    const { errors, template } = await githubParse(read('github-actions.yml'));
    expect(errors).toEqual([]);
    expect(Object.keys(template.events).sort()).toEqual(['push', 'workflow_dispatch']);
    expect(template.jobs.map((j) => j.id.value)).toEqual(['render']);
    const job = template.jobs[0] as Extract<WorkflowTemplate['jobs'][number], { type: 'job' }>;
    const runs = job.steps.map((s) => ('run' in s ? String((s.run as unknown as { value: unknown }).value) : ''));
    // the variables the command uses, as a manual run with the defaults sets them
    const inputs = (load(read('github-actions.yml')) as Obj).on.workflow_dispatch.inputs as Record<string, { default: string }>;
    const vars = { JOB_FILE: inputs.job!.default, WAIT_TIMEOUT: inputs.timeout!.default };
    const scripts = runs.filter((r) => submitCommands(r, vars).length > 0);
    expect(scripts).toHaveLength(1);
    for (const argv of submitCommands(scripts[0]!, vars)) expectWaitsForJson(argv);
    for (const code of [0, 1, 2, 3]) expect(scripts[0]).toMatch(new RegExp(`^\\s+${code}\\) `, 'm'));
    expect(scripts[0]).toContain('exit $code'); // the step fails with submit's own code
    const uses = job.steps.map((s) => ('uses' in s ? String((s.uses as unknown as { value: unknown }).value) : '')).filter(Boolean);
    expect(uses).toEqual(['actions/checkout@v4', 'actions/upload-artifact@v4']);
  });

  test('GitHub Actions: the same parser rejects a broken copy (so the check above can fail)', async () => {
    const broken = read('github-actions.yml').replace('runs-on: ubuntu-latest', 'runs_on: ubuntu-latest').replace('cancel-in-progress: false', 'cancel-in-progress: sometimes');
    const { errors } = await githubParse(broken);
    expect(errors.join('\n')).toMatch(/Unexpected value 'runs_on'/);
    expect(errors.join('\n')).toMatch(/Required property is missing: runs-on/);
    expect(errors.join('\n')).toMatch(/Unexpected value 'sometimes'/);
  });

  /** gitlab-ci-local --list-json in a fresh git repository holding the file as .gitlab-ci.yml (it needs a commit for rules:changes). */
  async function gitlabList(content: string, vars: string[] = []): Promise<{ code: number; jobs: Obj[]; stderr: string }> {
    const repo = mkdtempSync(path.join(os.tmpdir(), 'atelier-gitlab-'));
    writeFileSync(path.join(repo, '.gitlab-ci.yml'), content);
    mkdirSync(path.join(repo, 'renders'));
    copyFileSync(path.join(repoRoot, 'examples/renderjob-count.yaml'), path.join(repo, 'renders/lighting-sweep.yaml'));
    const git = (...a: string[]) => run('git', ['-c', 'user.name=atelier', '-c', 'user.email=tests@atelier.invalid', ...a], { cwd: repo });
    await git('init', '-q', '-b', 'main');
    await git('add', '-A');
    await git('commit', '-qm', 'pipeline');
    // an origin (the repository itself) so the default branch and rules:changes resolve as on GitLab
    await git('remote', 'add', 'origin', repo);
    await git('fetch', '-q', 'origin');
    await git('remote', 'set-head', 'origin', 'main');
    const cli = path.join(repoRoot, 'node_modules/gitlab-ci-local/dist/index.js');
    try {
      const { stdout, stderr } = await run(process.execPath, [cli, '--list-json', ...vars.flatMap((v) => ['--variable', v, '--ignore-predefined-vars', v.split('=')[0]!])], { cwd: repo, env: { ...process.env, NODE_OPTIONS: '' }, timeout: 60_000 });
      return { code: 0, jobs: JSON.parse(stdout) as Obj[], stderr };
    } catch (e) {
      const x = e as { code?: number; stdout?: string; stderr?: string; message?: string };
      return { code: typeof x.code === 'number' ? x.code : -1, jobs: [], stderr: `${x.message ?? ''}${x.stdout ?? ''}${x.stderr ?? ''}` };
    }
  }

  test('GitLab CI: GitLab\'s CI schema accepts the file; a pipeline run from the web runs render, then report', async () => {
    const { code, jobs, stderr } = await gitlabList(read('gitlab-ci.yml'), ['CI_PIPELINE_SOURCE=web']);
    expect({ code, stderr: code === 0 ? '' : stderr }).toEqual({ code: 0, stderr: '' });
    expect(stderr).toContain('json schema validated');
    expect(jobs.map((j) => [j.name, j.stage, j.when])).toEqual([['render', 'render', 'on_success'], ['report', 'report', 'on_success']]);
    expect(jobs[1]!.needs).toEqual([expect.objectContaining({ job: 'render', artifacts: true })]);
    // a push to main that changes no job file renders nothing (rules: changes)
    const quiet = await gitlabList(read('gitlab-ci.yml'));
    expect(quiet.jobs.map((j) => [j.name, j.when])).toEqual([['render', 'never'], ['report', 'never']]);
    const doc = load(read('gitlab-ci.yml')) as Obj;
    expect(doc.render.retry).toEqual({ max: 1, exit_codes: [3] }); // only a timeout is retried (and attaches)
    const vars = { ...(doc.variables as Record<string, string>), ATELIER_KUBECONFIG: '/builds/tmp/ATELIER_KUBECONFIG' }; // a File variable is a path
    const commands = (doc.render.script as string[]).flatMap((line) => submitCommands(line, vars));
    expect(commands).toHaveLength(1);
    for (const argv of commands) expectWaitsForJson(argv);
  });

  test('GitLab CI: the same schema rejects a broken copy (so the check above can fail)', async () => {
    const broken = read('gitlab-ci.yml').replace('max: 1', 'max: 9');
    const { code, stderr } = await gitlabList(broken);
    expect(code).not.toBe(0);
    expect(stderr).toContain('Invalid .gitlab-ci.yml configuration');
    expect(stderr).toMatch(/must be <= 2 at render\.retry\.max/);
  });
});

describe('examples/pipelines/argo-workflow.yaml against the API server with Argo\'s CRDs', () => {
  let c: Clients;
  let ns: string;
  const docs = (loadAll(read('argo-workflow.yaml')) as Obj[]).filter(Boolean);
  const template = docs.find((d) => d.kind === 'WorkflowTemplate')!;
  const byName = new Map<string, Obj>((template?.spec?.templates ?? []).map((t: Obj) => [t.name, t]));

  beforeAll(async () => {
    c = clients();
    await installCrds();
    await installCrd(c, await argoCrd('workflowtemplates'));
    ns = await freshNamespace(c, 'argo-example');
  }, 600_000);

  afterAll(async () => {
    await c?.core.deleteNamespace({ name: ns }).catch(() => undefined);
  });

  test('every document is created with strict field validation (the WorkflowTemplate by Argo\'s full schema)', async () => {
    expect(docs.map((d) => d.kind)).toEqual(['ServiceAccount', 'Role', 'RoleBinding', 'WorkflowTemplate']);
    const paths: Record<string, string> = {
      ServiceAccount: 'api/v1/namespaces/NS/serviceaccounts', Role: 'apis/rbac.authorization.k8s.io/v1/namespaces/NS/roles',
      RoleBinding: 'apis/rbac.authorization.k8s.io/v1/namespaces/NS/rolebindings', WorkflowTemplate: 'apis/argoproj.io/v1alpha1/namespaces/NS/workflowtemplates',
    };
    const outcomes = [];
    for (const d of docs) {
      const obj = structuredClone(d);
      expect(obj.metadata.namespace).toBe('studio');
      obj.metadata.namespace = ns;
      for (const s of obj.subjects ?? []) s.namespace = ns;
      const r = await rawRequest(c, 'POST', `/${paths[obj.kind]!.replace('NS', ns)}?fieldValidation=Strict`, obj);
      outcomes.push({ kind: obj.kind, code: r.code, message: r.code >= 300 ? r.body.slice(0, 400) : '' });
    }
    expect(outcomes).toEqual(docs.map((d) => ({ kind: d.kind, code: 201, message: '' })));
    // a misspelled field in a template is refused by Argo's schema: the check above can fail
    const broken = structuredClone(template);
    broken.metadata = { name: 'broken', namespace: ns };
    broken.spec.templates[1].resource.successCondtion = broken.spec.templates[1].resource.successCondition;
    const r = await rawRequest(c, 'POST', `/apis/argoproj.io/v1alpha1/namespaces/${ns}/workflowtemplates?fieldValidation=Strict`, broken);
    expect(r.code).toBe(400);
    expect(r.body).toContain('unknown field \\"spec.templates[1].resource.successCondtion\\"');
  });

  test('two RenderJob steps chained: comp runs after beauty and reads its output; conditions on the job\'s phase', () => {
    const steps = byName.get(template.spec.entrypoint)!.steps as Obj[][];
    expect(steps.map((group) => group.map((s) => s.template))).toEqual([['beauty-pass'], ['comp']]); // sequential groups
    expect(steps[1]![0]!.arguments.parameters).toEqual([{ name: 'frames-uri', value: '{{steps.beauty.outputs.parameters.output-uri}}' }]);
    const phases = (load(readFileSync(path.join(repoRoot, 'crds/atelier.dev_renderjobs.yaml'), 'utf8')) as Obj)
      .spec.versions[0].schema.openAPIV3Schema.properties.status.properties.phase.enum as string[];
    for (const name of ['beauty-pass', 'comp']) {
      const res = byName.get(name)!.resource as Obj;
      expect(res).toMatchObject({ action: 'apply', setOwnerReference: true, successCondition: 'status.phase == Succeeded', failureCondition: 'status.phase == Failed' });
      expect(phases).toEqual(expect.arrayContaining(['Succeeded', 'Failed'])); // the values the conditions compare with exist
      const outputs = byName.get(name)!.outputs.parameters as Obj[];
      expect(outputs.find((p) => p.name === 'cost')!.valueFrom.jsonPath).toBe('{.status.cost.total}');
    }
    expect((byName.get('beauty-pass')!.outputs.parameters as Obj[]).find((p) => p.name === 'output-uri')!.valueFrom.jsonPath).toBe('{.spec.output.uri}');
  });

  test('the RenderJobs the steps apply, with Argo\'s parameters filled in, are accepted by the RenderJob CRD', async () => {
    const params: Record<string, string> = { 'workflow.name': 'atelier-shot-x7k2p' };
    for (const p of template.spec.arguments.parameters as { name: string; value: string }[]) params[`workflow.parameters.${p.name}`] = p.value;
    params['inputs.parameters.frames-uri'] = 's3://renders/sh010/atelier-shot-x7k2p/beauty/';
    const outcomes = [];
    for (const name of ['beauty-pass', 'comp']) {
      const manifest = (byName.get(name)!.resource as Obj).manifest as string;
      const filled = manifest.replace(/\{\{([^}]+)\}\}/g, (_m, key: string) => {
        if (!(key in params)) throw new Error(`${name}: unknown Argo parameter ${key}`);
        return params[key]!;
      });
      const job = load(filled) as Obj;
      expect(job.metadata.namespace).toBeUndefined(); // Argo creates it in the workflow's namespace
      const r = await rawRequest(c, 'POST', `/apis/atelier.dev/v1alpha1/namespaces/${ns}/renderjobs?dryRun=All&fieldValidation=Strict`, job);
      outcomes.push({ name, code: r.code, message: r.code >= 300 ? r.body.slice(0, 400) : '' });
      if (name === 'comp') expect(job.spec.template.env).toEqual([{ name: 'FRAMES_URI', value: params['inputs.parameters.frames-uri'] }]);
      if (name === 'beauty-pass') expect(job.spec.output.uri).toBe('s3://renders/sh010/atelier-shot-x7k2p/beauty/');
    }
    expect(outcomes).toEqual([{ name: 'beauty-pass', code: 201, message: '' }, { name: 'comp', code: 201, message: '' }]);
  });
});
