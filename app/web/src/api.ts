// Typed access to the Locus HTTP API. The types come from the service's OpenAPI document:
// `npm run gen:api` (part of `npm run build`) writes src/api-types.ts with openapi-typescript
// from `python -m app.openapi_dump`, so they are never written by hand. Where a route still
// describes its body only as "an object", the shape the client relies on is stated here as a
// fallback and replaced by the generated type as soon as the route declares one. Every error
// the API returns is RFC 9457 problem+json; `ApiError` carries its title, detail and offending
// parameter so the UI can say what was wrong instead of logging to the console.

import type { components, paths } from "./api-types";

// ---- types from the OpenAPI -------------------------------------------------------------------

type Schemas = components["schemas"];

/** The JSON body of a successful GET of `P`, as the OpenAPI declares it. */
type GetJson<P extends keyof paths> = paths[P] extends {
  get: { responses: { 200: { content: { "application/json": infer Body } } } };
}
  ? Body
  : never;

/** The query parameters of a GET of `P`. */
type GetQuery<P extends keyof paths> = paths[P] extends { get: { parameters: { query?: infer Q } } }
  ? NonNullable<Q>
  : never;

/** The generated body of GET `P`; `Fallback` while the route declares no model (a plain
 * `dict` in the service: an index signature here) or does not exist yet. */
type Body<P extends string, Fallback> = P extends keyof paths
  ? string extends keyof GetJson<P>
    ? Fallback
    : GetJson<P>
  : Fallback;

/** A travel mode, as the routes' `mode` parameter declares it. */
export type Mode = NonNullable<GetQuery<"/analysis/nearest">["mode"]>;

/** A mode the server has data for, with its label (from `/analysis/modes`). */
export interface ModeInfo {
  mode: Mode;
  label: string;
}

/** Kinds of site present, with their labels and counts (from `/analysis/kinds`). */
export interface KindInfo {
  kind: string;
  label: string;
  count: number;
}

/** The modes the server has data for (road networks, a GTFS feed), in the registry's order,
 * with the registry's labels: the client keeps no list of modes or labels of its own. */
export async function modes(): Promise<ModeInfo[]> {
  const body = await getJson<Schemas["Modes"]>("/analysis/modes");
  return body.registry.filter((m) => m.available).map((m) => ({ mode: m.mode, label: m.label }));
}

/** The kinds of site with their labels, or `null` when the server has no `/analysis/kinds`. */
export async function kinds(): Promise<KindInfo[] | null> {
  try {
    const body = await getJson<Body<"/analysis/kinds", { kinds: KindInfo[] }>>("/analysis/kinds");
    return (body as { kinds: KindInfo[] }).kinds;
  } catch (err) {
    if (err instanceof ApiError && (err.status === 404 || err.status === 405)) return null;
    throw err;
  }
}

interface ProblemFallback {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  parameter?: string;
}

export type Problem = Schemas extends { Problem: infer P } ? P & ProblemFallback : ProblemFallback;

export class ApiError extends Error {
  readonly status: number;
  readonly problem: Problem;
  constructor(status: number, problem: Problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

async function readProblem(res: Response): Promise<Problem> {
  try {
    const body: unknown = await res.json();
    if (body && typeof body === "object") return body as Problem;
  } catch {
    // not JSON: fall through
  }
  return { status: res.status, title: res.statusText } as Problem;
}

export async function getJson<T>(path: string, init?: RequestInit): Promise<T> {
  const res = await fetch(path, { ...init, headers: { Accept: "application/json", ...init?.headers } });
  if (!res.ok) throw new ApiError(res.status, await readProblem(res));
  return (await res.json()) as T;
}

export function query(params: Record<string, string | number | boolean | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  }
  return q.toString();
}

/** An absolute URL on this origin (MapLibre sources need them); `{z}` etc. stay unencoded. */
export function absolute(path: string): string {
  return window.location.origin + path;
}

// ---- OGC API Features -----------------------------------------------------------------------

export interface AreaProps {
  code: string;
  name?: string | null;
  level: string;
  vintage: number;
  population?: number | null;
  pop_65_plus?: number | null;
  imd_decile?: number | null;
}

export interface SiteProps {
  source_id?: string;
  kind: string;
  name: string;
  owner?: string | null;
  owner_type?: string | null;
  status?: string | null;
  tenure?: string | null;
  gia_m2?: number | null;
  land_ha?: number | null;
  running_cost_gbp?: number | null;
  backlog_gbp?: number | null;
  postcode?: string | null;
}

export interface Feature<P> {
  type: "Feature";
  id?: string | number;
  geometry: GeoJSON.Geometry | null;
  properties: P;
}

export interface FeatureCollection<P> {
  type: "FeatureCollection";
  features: Feature<P>[];
}

export const items = <P>(collection: string, params: Record<string, string | number> = {}) =>
  getJson<FeatureCollection<P>>(
    `/collections/${collection}/items?${query({ f: "json", limit: 1000, ...params })}`,
  );

export const item = <P>(collection: string, fid: string | number) =>
  getJson<Feature<P>>(`/collections/${collection}/items/${encodeURIComponent(String(fid))}?f=json`);

export type TileJson = Body<
  "/collections/{collectionId}/tiles/WebMercatorQuad/tilejson.json",
  {
    tiles: string[];
    minzoom?: number;
    maxzoom?: number;
    bounds?: [number, number, number, number];
  }
>;

export const tileJson = (collection: string) =>
  getJson<TileJson>(`/collections/${collection}/tiles/WebMercatorQuad/tilejson.json`);

// ---- Analysis -------------------------------------------------------------------------------

export type Nearest = Body<
  "/analysis/nearest",
  {
    origin: { lon: number; lat: number; snap_distance_m?: number | null; postcode?: string | null };
    mode: Mode;
    kind: string;
    results: { site_id: number; source_id?: string | null; name: string; kind: string; seconds: number; minutes: number }[];
  }
>;

type NearestQuery = GetQuery<"/analysis/nearest">;

export const nearest = (
  where: { lon: number; lat: number } | { postcode: string },
  kind: string,
  mode: Mode,
  n = 5,
) => {
  const params: NearestQuery = { ...where, kind, mode, n };
  return getJson<Nearest>(`/analysis/nearest?${query(params)}`);
};

export interface BandProps {
  band_min: number;
  population: number;
  by_age: Record<string, number>;
  by_imd_decile: Record<string, number>;
}

export type Catchment = Body<
  "/analysis/catchment/{site_id}",
  FeatureCollection<BandProps> & { site?: unknown; metadata?: Record<string, unknown> }
>;

export const catchment = (siteId: number | string, mode: Mode) => {
  const params: GetQuery<"/analysis/catchment/{site_id}"> = { mode };
  return getJson<Catchment>(`/analysis/catchment/${encodeURIComponent(String(siteId))}?${query(params)}`);
};

export type Access = Body<
  "/analysis/access",
  {
    kind: string;
    mode: Mode;
    areas: { code: string; seconds: number | null; sites_within?: number | null }[];
  }
>;

export const access = (kind: string, mode: Mode, minutes: number) => {
  const params: GetQuery<"/analysis/access"> = { kind, mode, minutes };
  return getJson<Access>(`/analysis/access?${query(params)}`);
};

// ---- Processes ------------------------------------------------------------------------------

export interface HubInputs {
  p: number;
  mode: Mode;
  objective: "p-median" | "mclp";
  candidates: string[];
  keep: number[];
  minutes: number;
}

export type JobStatus = Body<
  "/jobs/{jobId}",
  {
    jobID: string;
    status: "accepted" | "running" | "successful" | "failed" | "dismissed";
    progress?: number | null;
    message?: string | null;
  }
>;

export interface HubResults {
  chosen: { site_id: number; name: string; lon: number; lat: number }[];
  assignment: { area_code: string; site_id: number; seconds: number }[];
  objective: number;
  lower_bound?: number;
  gap?: number;
  status?: string;
  coverage?: { before: Record<string, number>; after: Record<string, number> };
}

/** Start hub siting asynchronously; returns the job's status path (of the Location header). */
export const executeHubSiting = (inputs: HubInputs): Promise<string> => executeProcess("hub-siting", inputs);

/** Start a process asynchronously (OGC API Processes); returns the job's status path (of the
 * Location header). A 400 names the input that was wrong. */
export async function executeProcess(processId: string, inputs: object): Promise<string> {
  const res = await fetch(`/processes/${encodeURIComponent(processId)}/execution`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json", Prefer: "respond-async" },
    body: JSON.stringify({ inputs }),
  });
  if (!res.ok) throw new ApiError(res.status, await readProblem(res));
  // The Location is absolute on the server's configured base URL (LOCUS_BASE_URL); this
  // page may be served under another name for the same server (localhost vs 127.0.0.1), so
  // only its path is followed (same origin).
  const location = res.headers.get("Location");
  if (location) return new URL(location, window.location.href).pathname;
  const body = (await res.json()) as Partial<JobStatus>;
  if (body.jobID) return `/jobs/${body.jobID}`;
  throw new ApiError(res.status, { title: "No job location", detail: "the server gave no job address" } as Problem);
}

export const jobStatus = (url: string) => getJson<JobStatus>(url);
export const jobResults = (url: string) => getJson<HubResults>(`${url.replace(/\/$/, "")}/results`);

// ---- Scenarios and the options appraisal ----------------------------------------------------

export type ScenarioRecord = Schemas["ScenarioRecord"];
export type CriterionInfo = Schemas["CriterionInfo"];
export type CriteriaList = Schemas["CriteriaList"];
export type AppraisalResult = Schemas["AppraisalResult"];
export type Ranking = Schemas["Ranking"];
export type Uncertainty = Schemas["Uncertainty"];

/** The saved scenarios the caller may see (the latest version of each name). */
export const scenarios = () =>
  getJson<GetJson<"/scenarios">>(`/scenarios?${query({ latest: "true" })}`).then((b) => b.scenarios);

/** Save a successful hub-siting job's result as a scenario (201: the saved scenario). */
export async function scenarioFromHubSiting(jobId: string, name?: string): Promise<ScenarioRecord> {
  const body: Schemas["HubSitingScenarioRequest"] = { job_id: jobId, name: name || null, description: null, restricted: false };
  return postJson<ScenarioRecord>("/scenarios/from-hub-siting", body);
}

/** Every criterion of an appraisal over these modes, bands and threshold, with its default weight. */
export const appraisalCriteria = (modes: string[], bands: number[], thresholdMin: number) => {
  const params: GetQuery<"/appraisals/criteria"> = {
    modes: modes.join(","),
    bands: bands.join(","),
    threshold_min: thresholdMin,
  };
  return getJson<CriteriaList>(`/appraisals/criteria?${query(params)}`);
};

/** The inputs of the `options-appraisal` process (`app.services.appraisal_params.AppraisalParams`). */
export interface AppraisalInputs {
  title: string;
  include_baseline: boolean;
  scenario_ids: number[];
  hub_siting_jobs: string[];
  kinds: string[];
  modes: Mode[];
  bands: number[];
  threshold_min: number;
  weights: Record<string, number>;
  uncertainty?: Uncertainty | null;
}

export const executeAppraisal = (inputs: AppraisalInputs) => executeProcess("options-appraisal", inputs);

/** A finished appraisal, by its job id. */
export const appraisal = (jobId: string) => getJson<AppraisalResult>(`/appraisals/${encodeURIComponent(jobId)}`);

/** The ranking of a finished appraisal under other weights (and ranges): nothing is re-evaluated. */
export const rescore = (jobId: string, weights: Record<string, number>, uncertainty: Uncertainty | null) => {
  const body: Schemas["RescoreRequest"] = { weights, uncertainty };
  return postJson<Ranking>(`/appraisals/${encodeURIComponent(jobId)}/rescore`, body);
};

async function postJson<T>(path: string, body: unknown): Promise<T> {
  const res = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new ApiError(res.status, await readProblem(res));
  return (await res.json()) as T;
}
