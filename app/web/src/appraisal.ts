// The Options panel: compare the baseline, saved scenarios and hub-siting results with the
// `options-appraisal` process, then move the weights and watch the ranking change.
//
// Every figure comes from the API: the criteria and their default weights from
// `/appraisals/criteria`, the appraisal from the job (`/appraisals/{jobId}`), and each new
// ranking from `POST /appraisals/{jobId}/rescore` (debounced while a slider moves; nothing is
// re-evaluated). The panel computes nothing but the share each weight takes of their sum, so
// what it shows is what the consultation pack and the API say.

import * as api from "./api";
import type { AppraisalResult, CriterionInfo, Mode, ModeInfo, Ranking } from "./api";
import { criterionHeading, optionLabel, percent, renderMethod, renderRanking, weightFmt } from "./appraisal_view";
import { $, h } from "./dom";

/** What the panel needs from the page. */
export interface OptionsContext {
  setStatus(message: string, kind?: "info" | "error"): void;
  reportError(what: string, err: unknown): void;
  /** The modes the server has data for, with their labels. */
  modes: ModeInfo[];
  /** The status URL of this session's last finished hub-siting job, if any. */
  hubJob(): string | null;
}

const WEIGHT_MAX = 10;
const WEIGHT_STEP = 0.5;
const RESCORE_DELAY_MS = 250;
const POLL_MS = 400;
const MC_DRAWS = 1000;

const sliderId = (criterion: string) => `weight-${criterion.replace(/[^a-z0-9]+/g, "-")}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const panel = {
  ctx: null as OptionsContext | null,
  catalogue: [] as CriterionInfo[], // criteria of the current settings, with default weights
  catalogueNotes: [] as string[],
  normalisation: "",
  weights: new Map<string, number>(), // slider values
  jobId: null as string | null,
  result: null as AppraisalResult | null,
  ranking: null as Ranking | null,
  rescoreSeq: 0,
  rescoreTimer: 0,
  criteriaSeq: 0,
};

const ctx = (): OptionsContext => {
  if (!panel.ctx) throw new Error("options panel not set up");
  return panel.ctx;
};

// ---- setup ----------------------------------------------------------------------------------

/** Build the panel's controls and wire them; call once the travel modes are known. */
export function setupOptions(context: OptionsContext): void {
  panel.ctx = context;
  const modes = context.modes.length ? context.modes : [{ mode: "drive" as Mode, label: "Car" }];
  $("options-modes").replaceChildren(
    ...modes.map((m, i) => {
      const id = `options-mode-${m.mode}`;
      const input = h("input", { type: "checkbox", id, name: "modes", value: m.mode });
      input.checked = m.mode === "drive" || (i === 0 && !modes.some((x) => x.mode === "drive"));
      return h("div", { class: "check" }, input, h("label", { for: id }, m.label));
    }),
  );
  $("options-form").addEventListener("submit", (e) => {
    e.preventDefault();
    void run();
  });
  for (const id of ["options-modes", "options-bands", "options-threshold"]) {
    $(id).addEventListener("change", () => void settingsChanged());
  }
  $("options-mc").addEventListener("change", () => {
    $<HTMLInputElement>("options-mc-pct").disabled = !$<HTMLInputElement>("options-mc").checked;
  });
  for (const id of ["options-mc", "options-mc-pct"]) {
    $(id).addEventListener("change", () => {
      if (panel.jobId) scheduleRescore();
    });
  }
  $("options-weights-reset").addEventListener("click", () => {
    for (const c of panel.catalogue) panel.weights.set(c.id, c.weight);
    renderWeights();
    if (panel.jobId) scheduleRescore();
  });
  $("options-hub-save").addEventListener("click", () => void saveHubResult());
  // Refresh the saved scenarios (and the hub-siting action) whenever the panel is shown.
  new MutationObserver(() => {
    if (!$("pane-options").hidden) void refreshOptions();
  }).observe($("pane-options"), { attributes: true, attributeFilter: ["hidden"] });
  showMethod();
  void loadCriteria();
  void refreshOptions();
}

// ---- the options: baseline and saved scenarios ----------------------------------------------

async function refreshOptions(check: string[] = []): Promise<void> {
  $("options-hub").hidden = ctx().hubJob() == null;
  const list = $("options-list");
  const checked = new Set(
    [...list.querySelectorAll<HTMLInputElement>("input:checked")].map((i) => i.value).concat(check),
  );
  const first = list.childElementCount === 0;
  let scenarios: api.ScenarioRecord[];
  try {
    scenarios = await api.scenarios();
  } catch (err) {
    ctx().reportError("Could not list the saved scenarios", err);
    return;
  }
  const option = (value: string, label: string, title = "") => {
    const id = `option-${value.replace(/[^a-z0-9]+/g, "-")}`;
    const input = h("input", { type: "checkbox", id, name: "options", value });
    input.checked = checked.has(value) || (first && value === "baseline");
    const attrs: Record<string, string> = { for: id };
    if (title) attrs.title = title;
    return h("div", { class: "check" }, input, h("label", attrs, label));
  };
  list.replaceChildren(
    option("baseline", "Baseline (today's estate)"),
    ...scenarios.map((s) => option(`scenario:${s.id}`, `${s.name} (version ${s.version})`, s.description)),
  );
  $("options-none").hidden = scenarios.length > 0;
}

async function saveHubResult(): Promise<void> {
  const url = ctx().hubJob();
  if (!url) return;
  const jobId = url.replace(/\/$/, "").split("/").pop() ?? "";
  const button = $<HTMLButtonElement>("options-hub-save");
  button.disabled = true;
  try {
    const saved = await api.scenarioFromHubSiting(jobId, $<HTMLInputElement>("options-hub-name").value.trim());
    await refreshOptions([`scenario:${saved.id}`]);
    ctx().setStatus(`Saved the hub-siting result as “${saved.name}” (version ${saved.version}).`);
  } catch (err) {
    ctx().reportError("Saving the hub-siting result", err);
  } finally {
    button.disabled = false;
  }
}

// ---- settings and criteria ------------------------------------------------------------------

interface Settings {
  modes: Mode[];
  bands: number[];
  threshold: number;
}

function readSettings(): Settings | string {
  const modes = [...document.querySelectorAll<HTMLInputElement>("#options-modes input:checked")].map(
    (i) => i.value as Mode,
  );
  if (modes.length === 0) return "Choose at least one travel mode.";
  const bandText = $<HTMLInputElement>("options-bands").value;
  const bands = [...new Set(bandText.split(",").map((b) => b.trim()).filter(Boolean).map(Number))].sort((a, b) => a - b);
  if (bands.length === 0 || bands.some((b) => !Number.isInteger(b) || b < 1 || b > 120)) {
    return "Time bands must be whole minutes from 1 to 120, separated by commas.";
  }
  const threshold = Number($<HTMLInputElement>("options-threshold").value);
  if (!(threshold > 0 && threshold <= 180)) return "The access threshold must be 1 to 180 minutes.";
  return { modes, bands, threshold };
}

/** Criteria depend on the modes, bands and threshold: load them again, and drop a result made
 * with other settings (its criteria are not these). */
async function settingsChanged(): Promise<void> {
  if (panel.jobId) {
    clearResult();
    ctx().setStatus("The settings changed: run the appraisal again to rank the options.");
  }
  await loadCriteria();
}

async function loadCriteria(): Promise<void> {
  const settings = readSettings();
  if (typeof settings === "string") {
    ctx().setStatus(settings, "error");
    return;
  }
  const seq = ++panel.criteriaSeq;
  try {
    const list = await api.appraisalCriteria(settings.modes, settings.bands, settings.threshold);
    if (seq !== panel.criteriaSeq) return;
    panel.catalogue = list.criteria;
    panel.catalogueNotes = list.notes;
    panel.normalisation = list.normalisation;
    const kept = new Map(panel.weights);
    panel.weights.clear();
    for (const c of list.criteria) panel.weights.set(c.id, kept.get(c.id) ?? c.weight);
    renderWeights();
    showMethod();
  } catch (err) {
    ctx().reportError("Could not list the criteria", err);
  }
}

// ---- weights --------------------------------------------------------------------------------

/** Criteria an appraisal left out (no value for any option): they cannot carry weight. */
const dropped = () => new Set(panel.result?.dropped_criteria ?? []);

/** The weights to send: every slider's value, without criteria the appraisal left out. */
function currentWeights(): Record<string, number> {
  const out: Record<string, number> = {};
  const left = dropped();
  for (const c of panel.catalogue) if (!left.has(c.id)) out[c.id] = panel.weights.get(c.id) ?? 0;
  return out;
}

function renderWeights(): void {
  const box = $("options-weights");
  const left = dropped();
  const groups = [...new Set(panel.catalogue.map((c) => c.group))];
  box.replaceChildren(
    ...groups.map((g) => {
      const rows = panel.catalogue
        .filter((c) => c.group === g)
        .map((c) => {
          const id = sliderId(c.id);
          const input = h("input", {
            type: "range",
            id,
            min: "0",
            max: String(WEIGHT_MAX),
            step: String(WEIGHT_STEP),
            "data-criterion": c.id,
            "aria-describedby": `${id}-about`,
          });
          input.value = String(panel.weights.get(c.id) ?? 0);
          const out = h("output", { id: `${id}-out`, for: id });
          const better = c.direction === "lower" ? "lower is better" : "higher is better";
          const about = left.has(c.id)
            ? `${c.description}; ${better}. Left out of this appraisal: no option has a value.`
            : `${c.description}; ${better}.`;
          if (left.has(c.id)) input.disabled = true;
          input.addEventListener("input", () => {
            panel.weights.set(c.id, Number(input.value));
            updateShares();
            if (panel.jobId) scheduleRescore();
          });
          return h(
            "div",
            { class: "weight" },
            h("label", { for: id }, criterionHeading(c)),
            input,
            out,
            h("span", { id: `${id}-about`, class: "visually-hidden" }, about),
          );
        });
      return h("fieldset", {}, h("legend", {}, `Weights: ${g}`), ...rows);
    }),
  );
  updateShares();
}

/** Each slider's value and its share of the sum (the normalised weight the API uses). */
function updateShares(): boolean {
  const weights = currentWeights();
  const total = Object.values(weights).reduce((a, b) => a + b, 0);
  for (const c of panel.catalogue) {
    const id = sliderId(c.id);
    const input = document.getElementById(id);
    const out = document.getElementById(`${id}-out`);
    if (!(input instanceof HTMLInputElement) || !out) continue;
    const w = panel.weights.get(c.id) ?? 0;
    const counted = c.id in weights;
    const share = counted && total > 0 ? w / total : 0;
    const text = counted ? `${weightFmt.format(w)} (${percent(share)})` : "left out";
    out.textContent = text;
    input.setAttribute("aria-valuetext", counted ? `${weightFmt.format(w)}, ${percent(share)} of the total` : "left out");
  }
  const ok = total > 0;
  $("options-weights-error").textContent = ok ? "" : "Give at least one criterion a weight above 0.";
  return ok;
}

// ---- run ------------------------------------------------------------------------------------

function uncertainty(): api.Uncertainty | null {
  if (!$<HTMLInputElement>("options-mc").checked) return null;
  const pct = Number($<HTMLInputElement>("options-mc-pct").value) || 10;
  const range = { minus_pct: Math.min(pct, 100), plus_pct: pct };
  const ids = panel.result ? panel.result.criteria.map((c) => c.id) : panel.catalogue.map((c) => c.id);
  return {
    criteria: Object.fromEntries(ids.map((id) => [id, range])),
    values: [],
    distribution: "triangular",
    draws: MC_DRAWS,
    seed: 0,
  };
}

async function run(): Promise<void> {
  const picked = [...document.querySelectorAll<HTMLInputElement>("#options-list input:checked")].map((i) => i.value);
  if (picked.length < 2) {
    ctx().setStatus("Pick at least two options to compare.", "error");
    return;
  }
  const settings = readSettings();
  if (typeof settings === "string") {
    ctx().setStatus(settings, "error");
    return;
  }
  clearResult();
  if (!updateShares()) {
    ctx().setStatus("Give at least one criterion a weight above 0.", "error");
    return;
  }
  const inputs: api.AppraisalInputs = {
    title: $<HTMLInputElement>("options-title").value.trim() || "Options appraisal",
    include_baseline: picked.includes("baseline"),
    scenario_ids: picked.filter((p) => p.startsWith("scenario:")).map((p) => Number(p.slice("scenario:".length))),
    hub_siting_jobs: [],
    kinds: [$<HTMLSelectElement>("options-kind").value || "gp_practice"],
    modes: settings.modes,
    bands: settings.bands,
    threshold_min: settings.threshold,
    weights: currentWeights(),
    uncertainty: uncertainty(),
  };
  const button = $<HTMLButtonElement>("options-run");
  const bar = $<HTMLProgressElement>("options-progress");
  button.disabled = true;
  $("options-job").hidden = false;
  bar.value = 0;
  $("options-message").textContent = "Submitting…";
  try {
    const url = await api.executeAppraisal(inputs);
    for (;;) {
      const s = await api.jobStatus(url);
      bar.value = s.progress ?? bar.value;
      $("options-message").textContent = `${s.status}${s.message ? `: ${s.message}` : ""}`;
      if (s.status === "successful") break;
      if (s.status === "failed" || s.status === "dismissed") throw new Error(s.message || `job ${s.status}`);
      await sleep(POLL_MS);
    }
    bar.value = 100;
    const jobId = url.replace(/\/$/, "").split("/").pop() ?? "";
    showResult(jobId, await api.appraisal(jobId));
  } catch (err) {
    ctx().reportError("Options appraisal", err);
  } finally {
    button.disabled = false;
  }
}

function clearResult(): void {
  panel.rescoreSeq++;
  window.clearTimeout(panel.rescoreTimer);
  panel.jobId = null;
  panel.result = null;
  panel.ranking = null;
  for (const id of ["options-results", "options-ranking-box", "options-results-title"]) {
    $(id).hidden = true;
    $(id).removeAttribute("aria-busy");
  }
  renderWeights();
  showMethod();
}

function showResult(jobId: string, result: AppraisalResult): void {
  panel.jobId = jobId;
  panel.result = result;
  panel.ranking = result.ranking;
  $("options-results-title").textContent = result.title;
  const link = (type: string) => result.links.find((l) => l.rel === "alternate" && l.type === type)?.href ?? "#";
  $<HTMLAnchorElement>("options-pdf").href = link("application/pdf");
  $<HTMLAnchorElement>("options-html").href = link("text/html");
  renderWeights(); // criteria left out by the appraisal cannot carry weight
  showRanking();
  for (const id of ["options-results", "options-ranking-box", "options-results-title"]) $(id).hidden = false;
  $("options-results-title").scrollIntoView({ block: "start" });
  ctx().setStatus(`Appraisal done: “${optionLabel(result, result.ranking.top)}” ranks first of ${result.options.length} options.`);
}

// ---- re-ranking while weights move ----------------------------------------------------------

function scheduleRescore(): void {
  window.clearTimeout(panel.rescoreTimer);
  if (!updateShares()) return;
  panel.rescoreTimer = window.setTimeout(() => void rescore(), RESCORE_DELAY_MS);
}

async function rescore(): Promise<void> {
  const jobId = panel.jobId;
  if (!jobId) return;
  const seq = ++panel.rescoreSeq;
  const busy = (on: boolean) => {
    for (const id of ["options-results", "options-ranking-box"]) $(id).setAttribute("aria-busy", String(on));
  };
  busy(true);
  try {
    const ranking = await api.rescore(jobId, currentWeights(), uncertainty());
    if (seq !== panel.rescoreSeq) return; // a later change is on its way
    panel.ranking = ranking;
    showRanking();
    ctx().setStatus(`Ranking updated: “${optionLabel(jobResult(), ranking.top)}” ranks first.`);
  } catch (err) {
    if (seq !== panel.rescoreSeq) return;
    const detail = err instanceof Error ? err.message : String(err);
    $("options-weights-error").textContent = `Could not re-rank: ${detail}`;
    ctx().reportError("Re-ranking", err);
  } finally {
    if (seq === panel.rescoreSeq) busy(false);
  }
}

// ---- drawing --------------------------------------------------------------------------------

function jobResult(): AppraisalResult {
  if (!panel.result) throw new Error("no appraisal shown");
  return panel.result;
}

function showRanking(): void {
  if (!panel.result || !panel.ranking) return;
  renderRanking(panel.result, panel.ranking, $<HTMLInputElement>("options-mc-pct").value);
  showMethod();
}

function showMethod(): void {
  renderMethod(
    panel.normalisation || "min-max per criterion over the options compared",
    panel.catalogueNotes,
    panel.result,
    panel.ranking,
  );
}
