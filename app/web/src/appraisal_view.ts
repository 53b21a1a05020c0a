// The Options panel's results: the ranking, the values of the weighted criteria, the weight
// sensitivity and Monte Carlo in words, and the method notes. Pure rendering of what the API
// answered (`/appraisals/{jobId}` and its rescore): numbers are formatted, never computed.

import type { AppraisalResult, CriterionInfo, Ranking } from "./api";
import { $, h } from "./dom";

const fmt = (digits: number) =>
  new Intl.NumberFormat("en-GB", { maximumFractionDigits: digits, minimumFractionDigits: digits });
const nf0 = fmt(0);
const nf1 = fmt(1);
const nf2 = fmt(2);
const nf3 = fmt(3);
const share1 = new Intl.NumberFormat("en-GB", { maximumFractionDigits: 1 });
const gbp = new Intl.NumberFormat("en-GB", { style: "currency", currency: "GBP", maximumFractionDigits: 0 });
export const weightFmt = new Intl.NumberFormat("en-GB", { maximumFractionDigits: 1 });

/** A share (0-1) as a percentage with at most one decimal: 0.142857 → "14.3%". */
export const percent = (x: number) => `${share1.format(x * 100)}%`;
/** A weighted score (0-1) with three decimals. */
const formatScore = (x: number) => nf3.format(x);

/** A criterion value in its unit (the unit itself is in the column heading). */
function formatValue(v: number | null | undefined, unit: string): string {
  if (v == null) return "—";
  if (unit.startsWith("£")) return gbp.format(v);
  switch (unit) {
    case "min":
    case "%":
    case "t CO2e/year":
      return nf1.format(v);
    case "ha":
      return nf2.format(v);
    case "index":
      return nf3.format(v);
    default:
      return Math.abs(v) >= 100 || Number.isInteger(v) ? nf0.format(v) : nf2.format(v);
  }
}

/** A criterion as headings and slider labels name it: "Mean travel time, Car (min)". */
export const criterionHeading = (c: Pick<CriterionInfo, "label" | "unit">) => `${c.label} (${c.unit})`;

/** An option's label in `result` (its id when it is not one of them). */
export function optionLabel(result: AppraisalResult, id: string): string {
  return result.options.find((o) => o.id === id)?.label ?? id;
}

const criterionLabel = (result: AppraisalResult, id: string) =>
  result.criteria.find((c) => c.id === id)?.label ?? id;

/** Draw the ranking, the weighted criteria's values, the sensitivity and the Monte Carlo of
 * `ranking` (the appraisal's own or a rescore) of `result`; `mcPct` is the ± range the
 * Monte Carlo drew within. */
export function renderRanking(result: AppraisalResult, ranking: Ranking, mcPct: string): void {
  const optionName = (id: string) => optionLabel(result, id);
  const weighted = result.criteria.filter((c) => (ranking.weights[c.id] ?? 0) > 0);
  const mc = ranking.monte_carlo;
  const order = new Map(result.options.map((o, i) => [o.id, i]));
  const rows = [...ranking.rows].sort((a, b) => a.rank - b.rank || (order.get(a.option) ?? 0) - (order.get(b.option) ?? 0));
  const values = new Map(result.matrix.map((m) => [m.option, m.values]));

  const table = $<HTMLTableElement>("options-ranking");
  const head = ["Rank", "Option", "Score", "Pareto set", ...(mc ? ["Ranks first (share of draws)"] : [])];
  table.replaceChildren(
    h("caption", {}, "Options by weighted score (0–1; rank 1 is best)"),
    h("thead", {}, h("tr", {}, ...head.map((c) => h("th", { scope: "col" }, c)))),
    h(
      "tbody",
      {},
      ...rows.map((r) => {
        const pareto = r.dominated
          ? `no (dominated by ${r.dominated_by.map(optionName).join(", ")})`
          : "yes";
        return h(
          "tr",
          { "data-option": r.option },
          h("td", {}, String(r.rank)),
          h("th", { scope: "row" }, optionName(r.option)),
          h("td", {}, formatScore(r.score)),
          h("td", { class: "pareto" }, pareto),
          ...(mc ? [h("td", {}, percent(mc.first_share[r.option] ?? 0))] : []),
        );
      }),
    ),
  );
  // The weighted criteria: one row each (a column per option, in rank order), so the table
  // stays readable in the panel however many criteria carry weight.
  $<HTMLTableElement>("options-values").replaceChildren(
    h("caption", {}, "Values of the weighted criteria, options in rank order"),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ...["Criterion", "Weight", ...rows.map((r) => optionName(r.option))].map((c) => h("th", { scope: "col" }, c)),
      ),
    ),
    h(
      "tbody",
      {},
      ...weighted.map((c) =>
        h(
          "tr",
          { "data-criterion": c.id },
          h("th", { scope: "row" }, criterionHeading(c)),
          h("td", {}, percent(ranking.weights[c.id] ?? 0)),
          ...rows.map((r) => h("td", {}, formatValue(values.get(r.option)?.[c.id], c.unit))),
        ),
      ),
    ),
  );
  $("options-sensitivity").textContent = sensitivitySentence(result, ranking);
  const mcEl = $("options-monte-carlo");
  mcEl.hidden = mc == null;
  if (mc) {
    const shares = Object.entries(mc.first_share).sort((a, b) => b[1] - a[1]);
    mcEl.textContent =
      `Over ${nf0.format(mc.draws)} random draws of the values within ±${mcPct}% ` +
      `(${mc.distribution} distribution): ` +
      shares.map(([o, s]) => `“${optionName(o)}” ranks first in ${percent(s)} of draws`).join("; ") +
      (shares.reduce((a, [, s]) => a + s, 0) > 1 + 1e-9
        ? " (options tied first count for each, so the shares add up to more than 100%)."
        : ".");
  }
  renderSensitivityTable(result, ranking);
}

/** The smallest change of one weight that changes the top option, in words. */
function sensitivitySentence(result: AppraisalResult, ranking: Ranking): string {
  const s = ranking.sensitivity;
  const top = optionLabel(result, ranking.top);
  const row = s.criteria.find((c) => c.criterion === s.min_change_criterion);
  if (s.min_change == null || !row) {
    return `No change of a single weight makes another option rank first: “${top}” stays on top.`;
  }
  const up = row.increase_to != null ? row.increase_to - row.weight : Infinity;
  const down = row.decrease_to != null ? row.weight - row.decrease_to : Infinity;
  const rises = up <= down;
  const to = (rises ? row.increase_to : row.decrease_to) ?? 0;
  const next = rises ? row.new_top_if_increased : row.new_top_if_decreased;
  return (
    `The top option, “${top}”, changes${next ? ` to “${optionLabel(result, next)}”` : ""} if the weight of ` +
    `“${criterionLabel(result, row.criterion)}” ${rises ? "rises" : "falls"} from ${percent(row.weight)} to ` +
    `${rises ? "more" : "less"} than ${percent(to)} (the other weights rescaled in proportion).`
  );
}

function renderSensitivityTable(result: AppraisalResult, ranking: Ranking): void {
  const table = $<HTMLTableElement>("options-sensitivity-table");
  const change = (to: number | null, next: string | null) =>
    to == null ? "—" : `${percent(to)}${next ? ` (${optionLabel(result, next)})` : ""}`;
  table.replaceChildren(
    h("caption", {}, "Weight at which another option would rank first (others rescaled in proportion)"),
    h(
      "thead",
      {},
      h("tr", {}, ...["Criterion", "Weight", "Rises to", "Falls to"].map((c) => h("th", { scope: "col" }, c))),
    ),
    h(
      "tbody",
      {},
      ...ranking.sensitivity.criteria.map((s) =>
        h(
          "tr",
          {},
          h("th", { scope: "row" }, criterionLabel(result, s.criterion)),
          h("td", {}, percent(s.weight)),
          h("td", {}, change(s.increase_to, s.new_top_if_increased)),
          h("td", {}, change(s.decrease_to, s.new_top_if_decreased)),
        ),
      ),
    ),
  );
}

/** The method notes: normalisation, weights, Pareto set, sensitivity and the notes of the
 * appraisal (or, before one, of the criteria catalogue). */
export function renderMethod(
  normalisation: string,
  notesBefore: string[],
  result: AppraisalResult | null,
  ranking: Ranking | null,
): void {
  const notes = [
    `Normalisation: ${ranking?.normalisation ?? normalisation}.`,
    "Weights: only their proportions matter — each is divided by the sum of the weights (the share beside each " +
      "slider), and a weight of 0 leaves the criterion out. Score = the sum over the criteria of share × normalised " +
      "value; rank 1 is the highest score.",
    "Pareto set: an option is dominated when another is at least as good on every weighted criterion and better " +
      "on one; the options that are not dominated form the Pareto set.",
    ...(ranking ? [`Sensitivity: ${ranking.flip_rule}.`] : []),
    ...(result?.notes ?? notesBefore),
    ...(ranking?.notes ?? []),
  ];
  if (result) {
    for (const o of result.options) {
      notes.push(`${o.label}: ${o.description || "no description"}; ${o.evaluation}.`);
    }
  }
  $("options-method").replaceChildren(...notes.map((n) => h("li", {}, n)));
}
