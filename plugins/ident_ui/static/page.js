// The Integrations page: figures from the plugin's own API (the IDENT database) and runs from
// Airflow's REST API, both with the viewer's Airflow login (the UI's session cookie).
// <body data-state> and <section data-state> say when a part is loaded (loading, ready, error).
"use strict";

const API = "api/"; // the plugin's figures, relative to /ident/
const AIRFLOW_API = "../api/v2/"; // Airflow's REST API
const AIRFLOW_UI = "../"; // where runs open (in the UI's top frame, not inside this one)
const LATE_AFTER_INTERVALS = 2; // a run may be in progress: late only after two intervals
const STATE_NAMES = { ok: "ok", late: "late", failing: "failing", never: "never run" };

let clinicTimeZone = "UTC";

async function getJson(url) {
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (!response.ok) {
    let detail = response.statusText;
    try {
      detail = (await response.json()).detail ?? detail;
    } catch {
      // not JSON: keep the status text
    }
    throw new Error(`${response.status}: ${typeof detail === "string" ? detail : JSON.stringify(detail)}`);
  }
  return response.json();
}

function formatTime(iso) {
  if (!iso) return "—";
  return new Intl.DateTimeFormat("en-GB", {
    timeZone: clinicTimeZone, day: "2-digit", month: "2-digit", hour: "2-digit", minute: "2-digit",
  }).format(new Date(iso));
}

function formatMinutes(minutes) {
  const m = Math.max(0, Math.round(minutes));
  if (m < 60) return `${m} min`;
  if (m < 48 * 60) return `${Math.floor(m / 60)} h ${m % 60} min`;
  return `${Math.floor(m / 1440)} d ${Math.floor((m % 1440) / 60)} h`;
}

function cell(row, field, content, className = "") {
  const td = row.insertCell();
  td.dataset.field = field;
  if (className) td.className = className;
  if (content instanceof Node) td.appendChild(content);
  else td.textContent = content ?? "—";
  return td;
}

function link(href, text) {
  const a = document.createElement("a");
  a.href = href;
  a.target = "_top";
  a.dataset.airflow = "";
  a.textContent = text;
  return a;
}

// In the UI's frame, which is sandboxed without top navigation, an Airflow link opens through the
// UI's own router instead: the frame is same-origin, so it pushes the route into the UI's history
// (in the state shape of the UI's router, so Back returns here) and tells the router to follow.
function openInAirflow(event) {
  const a = event.target.closest("a[data-airflow]");
  const modified = event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey;
  if (!a || window.top === window || modified) return;
  event.preventDefault();
  const history = window.top.history;
  const key = Math.random().toString(36).slice(2, 10);
  history.pushState({ usr: null, key, idx: (history.state?.idx ?? 0) + 1 }, "", a.href);
  window.top.dispatchEvent(new PopStateEvent("popstate", { state: history.state }));
}

function fillTable(id, rows, render) {
  const body = document.querySelector(`#${id} tbody`);
  body.replaceChildren();
  if (!rows.length) {
    const td = body.insertRow().insertCell();
    td.colSpan = document.querySelectorAll(`#${id} thead th`).length;
    td.className = "muted";
    td.textContent = "Nothing yet";
    return;
  }
  rows.forEach((item) => render(body.insertRow(), item));
}

// --- the overview ------------------------------------------------------------------------------

async function lastRuns(dagId) {
  const runs = `${AIRFLOW_API}dags/${encodeURIComponent(dagId)}/dagRuns?order_by=-run_after&limit=1&state=`;
  const [success, failed] = await Promise.all([getJson(`${runs}success`), getJson(`${runs}failed`)]);
  return { success: success.dag_runs[0] ?? null, failed: failed.dag_runs[0] ?? null };
}

async function failedTasks(run) {
  const url = `${AIRFLOW_API}dags/${encodeURIComponent(run.dag_id)}/dagRuns/${encodeURIComponent(run.dag_run_id)}`
    + "/taskInstances?state=failed";
  return (await getJson(url)).task_instances.map((ti) => ti.task_id);
}

function health(item, runs, now) {
  if (!runs.success) return { state: "never", lag: null };
  const lag = (now - new Date(runs.success.end_date ?? runs.success.run_after)) / 60000;
  const failedSince = runs.failed && new Date(runs.failed.run_after) > new Date(runs.success.run_after);
  if (failedSince) return { state: "failing", lag };
  const late = !item.watched && lag > LATE_AFTER_INTERVALS * item.interval_minutes;
  return { state: late ? "late" : "ok", lag };
}

async function renderRunCells(row, item, now) {
  const [stateCell, successCell, lagCell, errorCell] = ["state", "last_success", "lag", "last_error"].map(
    (field) => row.querySelector(`[data-field="${field}"]`),
  );
  const every = item.watched ? "watched" : `every ${formatMinutes(item.interval_minutes)}`;
  let runs;
  try {
    runs = await lastRuns(item.dag_id);
  } catch (error) { // e.g. 404: the DAG is not parsed yet, or 403: no access to its runs
    stateCell.textContent = "unknown";
    successCell.textContent = `runs unavailable (${error.message})`;
    lagCell.textContent = every;
    errorCell.textContent = "—";
    return;
  }
  const { state, lag } = health(item, runs, now);
  row.dataset.state = state;
  stateCell.textContent = STATE_NAMES[state];
  stateCell.className = `state-${state}`;
  successCell.textContent = runs.success ? formatTime(runs.success.end_date) : "never";
  successCell.dataset.at = runs.success?.end_date ?? "";
  lagCell.textContent = lag === null ? every : `${formatMinutes(lag)} / ${every}`;

  errorCell.replaceChildren();
  if (runs.failed) {
    const failed = runs.failed;
    const href = `${AIRFLOW_UI}dags/${encodeURIComponent(item.dag_id)}/runs/${encodeURIComponent(failed.dag_run_id)}`;
    errorCell.appendChild(link(href, `run failed ${formatTime(failed.run_after)}`));
    errorCell.dataset.runId = failed.dag_run_id;
    if (state !== "failing") errorCell.append(" (succeeded since)");
    const tasks = await failedTasks(failed).catch(() => []);
    if (tasks.length) errorCell.append(` — ${tasks.join(", ")}`);
  }
  const service = item.last_service_error;
  if (service) {
    const note = document.createElement("div");
    note.className = "muted";
    note.dataset.field = "service_error";
    const answer = service.http_status ?? "no answer";
    note.textContent = `${formatTime(service.at)} ${answer}: ${service.error ?? service.url}`;
    errorCell.appendChild(note);
  }
  if (!errorCell.childNodes.length) errorCell.textContent = "—";
}

function renderOverview(data) {
  const now = new Date(data.now);
  const body = document.querySelector("#overview tbody");
  body.replaceChildren();
  const pending = data.rows.map((item) => {
    const row = body.insertRow();
    row.dataset.dagId = item.dag_id;
    row.dataset.integration = item.integration;
    cell(row, "integration", `${item.integration} (${item.service})`);
    cell(row, "capability", link(`${AIRFLOW_UI}dags/${encodeURIComponent(item.dag_id)}`, item.capability));
    cell(row, "state", "…");
    cell(row, "last_success", "…");
    cell(row, "lag", "…");
    const loaded = item.loaded_today === null ? "—" : `${item.loaded_today} ${item.loaded_unit}`;
    cell(row, "loaded_today", loaded, "num").dataset.value = item.loaded_today ?? "";
    cell(row, "rejects_today", String(item.rejects_today), "num").dataset.value = item.rejects_today;
    cell(row, "last_error", "…");
    return renderRunCells(row, item, now);
  });
  if (!data.rows.length) fillTable("overview", [], () => {});
  return Promise.all(pending);
}

function renderCharts(charts) {
  const sources = Object.entries(charts.leads_per_day).map(([name, values]) => ({ name, values }));
  IdentCharts.stackedBars(document.getElementById("chart-leads"), charts.days, sources);
  const utm = charts.leads_by_utm.map((item) => ({
    label: `${item.source ?? "(none)"} / ${item.campaign ?? "(none)"}`,
    value: item.leads,
  }));
  IdentCharts.horizontalBars(document.getElementById("chart-utm"), utm);
  IdentCharts.barsWithShare(
    document.getElementById("chart-calls"), charts.days, charts.calls_per_day, charts.lost_calls_per_day,
    ["calls", "lost share"],
  );
}

// --- one integration ---------------------------------------------------------------------------

async function loadDetail() {
  const section = document.getElementById("detail");
  const name = document.getElementById("integration").value;
  if (!name) return;
  section.dataset.state = "loading";
  const status = document.getElementById("status").value;
  const base = `${API}integrations/${encodeURIComponent(name)}`;
  try {
    const [detail, log] = await Promise.all([getJson(base), getJson(`${base}/exchange-log?status=${status}`)]);
    fillTable("exchange-log", log.rows, (row, item) => {
      cell(row, "at", formatTime(item.at)).dataset.at = item.at;
      cell(row, "capability", item.capability);
      cell(row, "request", `${item.method} ${item.url}`, "url");
      cell(row, "http_status", item.http_status === null ? "no answer" : String(item.http_status));
      cell(row, "duration_ms", String(item.duration_ms), "num");
      cell(row, "error", item.error);
    });
    fillTable("rejects", detail.rejects, (row, item) => {
      cell(row, "at", formatTime(item.at));
      cell(row, "capability", item.capability);
      cell(row, "external_id", item.external_id);
      cell(row, "reason", item.reason);
    });
    document.getElementById("recent-leads-block").hidden = !detail.capabilities.includes("leads");
    fillTable("recent-leads", detail.recent_leads, (row, item) => {
      cell(row, "at", formatTime(item.at));
      cell(row, "name", item.name);
      cell(row, "phone", item.phone);
      cell(row, "form", item.form);
      cell(row, "utm_source", item.utm_source);
      cell(row, "utm_campaign", item.utm_campaign);
    });
    document.getElementById("recent-calls-block").hidden = !detail.capabilities.includes("calls");
    fillTable("recent-calls", detail.recent_calls, (row, item) => {
      cell(row, "at", formatTime(item.at));
      cell(row, "direction", item.direction);
      cell(row, "phone", item.phone);
      cell(row, "lost", item.lost ? "lost" : "");
      cell(row, "talk_seconds", item.talk_seconds === null ? "—" : String(item.talk_seconds), "num");
      cell(row, "employee", item.employee);
    });
    section.dataset.state = "ready";
  } catch (error) {
    showError(error);
    section.dataset.state = "error";
  }
}

// --- the whole page ----------------------------------------------------------------------------

function showError(error) {
  const box = document.getElementById("error");
  box.textContent = `Could not load: ${error.message}`;
  box.hidden = false;
}

async function load() {
  document.body.dataset.state = "loading";
  document.getElementById("error").hidden = true;
  try {
    const data = await getJson(`${API}overview`);
    clinicTimeZone = data.timezone;
    document.getElementById("timezone").textContent = data.timezone;
    const viewer = document.getElementById("viewer");
    viewer.dataset.personalData = data.viewer.sees_personal_data ? "full" : "masked";
    viewer.textContent = `Signed in as ${data.viewer.name}. Patients' phones and names are `
      + (data.viewer.sees_personal_data ? "shown in full." : "masked (full data needs access to connections).");
    const select = document.getElementById("integration");
    const chosen = select.value;
    const names = [...new Set(data.rows.map((item) => item.integration))];
    select.replaceChildren(...names.map((name) => new Option(name, name, false, name === chosen)));
    renderCharts(data.charts);
    await Promise.all([renderOverview(data), loadDetail()]);
    document.body.dataset.state = "ready";
  } catch (error) {
    showError(error);
    document.body.dataset.state = "error";
  }
}

document.addEventListener("click", openInAirflow);
document.getElementById("refresh").addEventListener("click", load);
document.getElementById("integration").addEventListener("change", loadDetail);
document.getElementById("status").addEventListener("change", loadDetail);
load();
