// OpenCDM web console: a client of the public CDM v1.1 API (plus the two documented extensions of
// docs/console.md), nothing else. No framework and no build step: the files are served as they are.
//
// Safety rule: data from the server (link names, job names, error messages...) only ever reaches the
// page as text nodes or attribute values (see h()), never as HTML.

const SESSION_KEY = "opencdm.console.session";
const COUNTERS = "org.apache.sqoop.submission.counter.SqoopCounters";
const LIVE_STATUSES = new Set(["BOOTING", "RUNNING"]);
const POLL_MS = 1000;
// Job inputs offered in a new job's form when the connector accepts them: what a table copy needs.
const USUAL_FROM_INPUTS = ["fromJobConfig.schemaName", "fromJobConfig.tableName"];
const USUAL_TO_INPUTS = {
  "toJobConfig.schemaName": "",
  "toJobConfig.tableName": "",
  "toJobConfig.tablePreparation": "CREATE_WHEN_NOT_EXIST",
};

// --- DOM helpers -----------------------------------------------------------------------------

/** An element; strings among the children become text nodes, so they are never parsed as HTML. */
function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  let value;
  for (const [key, prop] of Object.entries(props)) {
    if (prop === undefined || prop === null || prop === false) continue;
    if (key === "value") value = prop; // set once the options of a <select> exist
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), prop);
    else if (key === "className") node.className = prop;
    else if (key === "dataset") Object.assign(node.dataset, prop);
    // Through the CSSOM: the console's Content-Security-Policy refuses style attributes.
    else if (key === "style") Object.assign(node.style, prop);
    else if (typeof prop === "boolean") node[key] = prop;
    else node.setAttribute(key, String(prop));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  if (value !== undefined) node.value = value;
  return node;
}

const $ = (selector, root = document) => root.querySelector(selector);
const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

function showNotice(message, isError = false) {
  const notice = $("#notice");
  notice.textContent = message;
  notice.className = isError ? "notice error" : "notice";
  notice.hidden = !message;
}

function clearNotice() {
  showNotice("");
}

// A message for the next view: navigating redraws the page, which would wipe a notice shown now.
let pendingNotice = null;

function flash(message, isError = false) {
  pendingNotice = [message, isError];
}

// --- formatting ------------------------------------------------------------------------------

function formatCount(n) {
  return n === null || n === undefined || n < 0 ? "—" : Number(n).toLocaleString("en-US");
}

function formatRate(rowsPerSecond) {
  return rowsPerSecond === null || rowsPerSecond === undefined ? "—" : `${formatCount(Math.round(rowsPerSecond))} rows/s`;
}

function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "—";
  if (seconds < 10) return `${Math.max(0, seconds).toFixed(1)}s`; // short runs are the common case
  const total = Math.round(seconds);
  const [hours, minutes, secs] = [Math.floor(total / 3600), Math.floor((total % 3600) / 60), total % 60];
  if (hours) return `${hours}h ${String(minutes).padStart(2, "0")}m`;
  if (minutes) return `${minutes}m ${String(secs).padStart(2, "0")}s`;
  return `${secs}s`;
}

function formatTime(ms) {
  return ms ? new Date(ms).toLocaleString() : "—";
}

function statusBadge(status, id) {
  return h("span", { className: `status ${status || ""}`, id }, status || "—");
}

function progressBar(percent, wide = false, id) {
  const shown = percent === null || percent === undefined ? null : Math.max(0, Math.min(100, Math.floor(percent)));
  return h("div", {
    className: wide ? "progress wide" : "progress", id, role: "progressbar",
    "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": shown ?? "",
  },
  h("div", { className: "bar", style: { width: `${shown ?? 0}%` } }),
  h("span", { className: "label" }, shown === null ? "—" : `${shown}%`));
}

// --- session and API -------------------------------------------------------------------------

/** The signed-in user's token and scope; sessionStorage, so it ends with the browser tab. */
const session = {
  load() {
    try {
      const saved = JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
      return saved && saved.expiresAt > Date.now() ? saved : null;
    } catch {
      return null;
    }
  },
  save(value) {
    sessionStorage.setItem(SESSION_KEY, JSON.stringify(value));
  },
  clear() {
    sessionStorage.removeItem(SESSION_KEY);
  },
};

class ApiError extends Error {
  constructor(status, body) {
    super(describeError(status, body));
    this.status = status;
    this.body = body;
  }
}

/** The message of a CDM error, a gateway error, or a failed link validation. */
function describeError(status, body) {
  if (body && typeof body === "object") {
    if (body.externalMessage) return `${body.errCode}: ${body.externalMessage}`;
    if (body.error_msg) return `${body.error_code}: ${body.error_msg}`;
    const problems = validationMessages(body);
    if (problems.length) return problems.join("\n");
  }
  return `The server answered HTTP ${status}.`;
}

function validationMessages(body) {
  return (body["validation-result"] || [])
    .flatMap((result) => Object.values(result || {}))
    .flat()
    .map((item) => (item && item.message) || "")
    .filter(Boolean);
}

async function request(method, path, body, extraHeaders = {}) {
  const headers = { ...extraHeaders };
  const current = session.load();
  if (current) headers["X-Auth-Token"] = current.token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  if (response.status === 401 && current) {
    signOut("Your session has ended: sign in again.");
  }
  if (!response.ok) throw new ApiError(response.status, parsed);
  return { response, body: parsed };
}

/** The CDM resources of the signed-in project's chosen cluster. */
function cdm(path) {
  const { projectId, clusterId } = session.load();
  return `/v1.1/${encodeURIComponent(projectId)}/clusters/${encodeURIComponent(clusterId)}/cdm${path}`;
}

const api = {
  get: async (path) => (await request("GET", cdm(path))).body,
  post: async (path, body) => (await request("POST", cdm(path), body)).body,
  put: async (path, body) => (await request("PUT", cdm(path), body)).body,
  del: async (path) => (await request("DELETE", cdm(path))).body,
};

const enc = encodeURIComponent;

// --- sign in ---------------------------------------------------------------------------------

async function signIn(form) {
  const data = new FormData(form);
  const project = String(data.get("project")).trim();
  // A project is named by id (32 hex digits, as the server makes them) or by name.
  const scope = /^[0-9a-f]{32}$/.test(project) ? { id: project } : { name: project };
  const body = { auth: {
    identity: { methods: ["password"], password: { user: {
      name: String(data.get("user")), password: String(data.get("password")),
      domain: { name: String(data.get("domain") || "Default") } } } },
    scope: { project: scope },
  } };
  const { response, body: answer } = await request("POST", "/v3/auth/tokens", body);
  const token = answer.token;
  session.save({
    token: response.headers.get("X-Subject-Token"),
    user: token.user.name,
    projectId: token.project.id,
    projectName: token.project.name,
    expiresAt: Date.parse(token.expires_at),
    clusterId: null,
  });
  await chooseCluster();
}

/** The project's clusters (ListClusters); the first one unless the user picked another. */
async function chooseCluster() {
  const current = session.load();
  const { body } = await request("GET", `/v1.1/${enc(current.projectId)}/clusters`);
  const clusters = body.clusters || [];
  const kept = clusters.find((cluster) => cluster.id === current.clusterId);
  current.clusterId = (kept || clusters[0] || {}).id || null;
  current.clusters = clusters.map((cluster) => ({ id: cluster.id, name: cluster.name }));
  session.save(current);
}

function signOut(message) {
  session.clear();
  viewGeneration += 1; // stops the pollers of the view being left
  showSignedOut(message);
}

function showSignedOut(message) {
  $("#nav").hidden = true;
  $("#sign-out").hidden = true;
  $("#cluster-picker").hidden = true;
  $("#who").textContent = "";
  $("#view").hidden = true;
  $("#view").replaceChildren();
  clearNotice();
  $("#sign-in").hidden = false;
  const error = $("#sign-in-error");
  error.textContent = message || "";
  error.hidden = !message;
}

function showSignedIn() {
  const current = session.load();
  $("#sign-in").hidden = true;
  $("#nav").hidden = false;
  $("#sign-out").hidden = false;
  $("#view").hidden = false;
  $("#who").textContent = `${current.user} · project ${current.projectName}`;
  const picker = $("#cluster");
  picker.replaceChildren(...(current.clusters || []).map((c) => h("option", { value: c.id }, c.name)));
  picker.value = current.clusterId || "";
  $("#cluster-picker").hidden = (current.clusters || []).length < 2;
}

// --- views and routing -----------------------------------------------------------------------

// Bumped on every navigation: a render or a poll started for an earlier view sees it and stops.
let viewGeneration = 0;

function render(generation, ...nodes) {
  if (generation !== viewGeneration) return false;
  $("#view").replaceChildren(...nodes);
  return true;
}

/** Calls ``step`` every ``ms`` while it returns true and the view that started it is shown. */
function poll(generation, ms, step) {
  const tick = async () => {
    if (generation !== viewGeneration) return;
    let again = false;
    try {
      again = await step();
    } catch (error) {
      showNotice(error.message, true);
      again = !(error instanceof ApiError && error.status === 401);
    }
    if (again && generation === viewGeneration) setTimeout(tick, ms);
  };
  setTimeout(tick, ms);
}

const ROUTES = [
  [/^\/links$/, () => showLinks()],
  [/^\/links\/new$/, () => showLinkForm(null)],
  [/^\/links\/edit\/(.+)$/, (m) => showLinkForm(decodeURIComponent(m[1]))],
  [/^\/jobs$/, () => showJobs()],
  [/^\/jobs\/new$/, () => showJobForm(null)],
  [/^\/jobs\/edit\/(.+)$/, (m) => showJobForm(decodeURIComponent(m[1]))],
  [/^\/jobs\/show\/(.+)$/, (m) => showJob(decodeURIComponent(m[1]))],
  [/^\/history$/, (m, query) => showHistory(query.get("job") || "")],
  [/^\/log\/(\d+)$/, (m, query) => showLog(Number(m[1]), query.get("job") || "")],
];

async function route() {
  viewGeneration += 1;
  if (!session.load()) {
    showSignedOut();
    return;
  }
  showSignedIn();
  clearNotice();
  if (pendingNotice) showNotice(...pendingNotice);
  pendingNotice = null;
  const [path, queryText] = (location.hash.slice(1) || "/jobs").split("?");
  const section = path.split("/")[1];
  for (const link of $$("#nav a")) link.classList.toggle("active", link.dataset.section === section);
  if (!session.load().clusterId) {
    render(viewGeneration, h("div", { className: "card empty" }, "This project has no cluster yet."));
    return;
  }
  for (const [pattern, show] of ROUTES) {
    const match = path.match(pattern);
    if (match) {
      try {
        await show(match, new URLSearchParams(queryText || ""));
      } catch (error) {
        // A refused token has already sent the user to the sign-in form, which says why.
        if (!(error instanceof ApiError && error.status === 401)) showNotice(error.message, true);
      }
      return;
    }
  }
  location.hash = "#/jobs";
}

function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

// --- links -----------------------------------------------------------------------------------

async function showLinks() {
  const generation = viewGeneration;
  const { links } = await api.get("/links");
  const rows = links.map((link) => h("tr", { dataset: { link: link.name } },
    h("td", {}, h("a", { href: `#/links/edit/${enc(link.name)}` }, link.name)),
    h("td", {}, link["connector-name"]),
    h("td", {}, linkSummary(link)),
    h("td", {}, link.enabled ? "yes" : "no"),
    h("td", {}, formatTime(link["update-date"])),
    h("td", { className: "actions" },
      h("button", { type: "button", onclick: () => go(`#/links/edit/${enc(link.name)}`) }, "Edit"),
      h("button", { type: "button", className: "danger", onclick: () => deleteLink(link.name) }, "Delete")),
  ));
  render(generation,
    h("div", { className: "toolbar" }, h("h1", {}, "Links"), h("span", { className: "spacer" }),
      h("button", { type: "button", className: "primary", onclick: () => go("#/links/new") }, "New link")),
    table(["Name", "Connector", "Where", "Enabled", "Updated", ""], rows, "No link yet.", "links-table"));
}

/** Where a link points, from its usual inputs (host, database, bucket, directory...). */
function linkSummary(link) {
  const values = {};
  for (const config of link["link-config-values"].configs) {
    for (const input of config.inputs) values[input.name.split(".").pop()] = input.value;
  }
  const parts = [values.databaseType, values.host && `${values.host}${values.port ? `:${values.port}` : ""}`,
    values.database, values.server, values.rootDirectory, values.warehouse].filter(Boolean);
  return parts.join(" · ");
}

function table(headings, rows, emptyText, id) {
  const body = rows.length ? rows : [h("tr", {}, h("td", { colspan: headings.length, className: "empty" }, emptyText))];
  return h("table", { id },
    h("thead", {}, h("tr", {}, headings.map((text) => h("th", {}, text)))),
    h("tbody", {}, body));
}

async function deleteLink(name) {
  if (!confirm(`Delete link ${name}?`)) return;
  try {
    await api.del(`/link/${enc(name)}`);
    flash(`Link ${name} deleted.`);
  } catch (error) {
    flash(error.message, true);
  }
  route();
}

let connectorsCache = null;

async function connectors() {
  connectorsCache = connectorsCache || (await api.get("/connectors")).connectors;
  return connectorsCache;
}

async function showLinkForm(name) {
  const generation = viewGeneration;
  const available = await connectors();
  const existing = name ? (await api.get(`/link/${enc(name)}`)).links[0] : null;
  const values = existing ? linkValues(existing) : {};
  const fields = h("div", { id: "link-inputs" });
  const connectorSelect = h("select", { name: "connector", value: existing ? existing["connector-name"] : "generic-jdbc-connector" },
    available.map((connector) => h("option", { value: connector.name }, connector.name)));
  const drawInputs = () => {
    const connector = available.find((c) => c.name === connectorSelect.value);
    fields.replaceChildren(...connector["link-inputs"].map((spec) => linkInputField(spec, values, Boolean(existing))));
  };
  connectorSelect.addEventListener("change", drawInputs);
  drawInputs();
  const result = h("p", { id: "link-result", role: "status" });
  const form = h("form", { id: "link-form", className: "card", onsubmit: (event) => saveLink(event, form, existing, result) },
    h("label", {}, "Name", h("input", { name: "name", required: true, value: name || "", readOnly: Boolean(existing) })),
    h("label", {}, "Connector", connectorSelect),
    h("label", { className: "check" }, h("input", { type: "checkbox", name: "enabled", checked: existing ? existing.enabled : true }), " enabled"),
    fields,
    h("div", { className: "toolbar" },
      h("button", { type: "button", onclick: () => testLink(form, result) }, "Test connection"),
      h("button", { type: "submit", className: "primary" }, existing ? "Save" : "Create"),
      h("button", { type: "button", onclick: () => go("#/links") }, "Cancel")),
    result);
  render(generation, h("h1", {}, existing ? `Link ${name}` : "New link"), form);
}

function linkValues(link) {
  const values = {};
  for (const config of link["link-config-values"].configs) {
    for (const input of config.inputs) if (input.value !== undefined) values[input.name] = input.value;
  }
  return values;
}

/** One link input, drawn from the connector's own spec (type, mandatory, sensitive, size, default). */
function linkInputField(spec, values, editing) {
  const shortName = spec.name.replace(/^linkConfig\./, "");
  const current = values[spec.name];
  const text = current === undefined || current === null ? "" : typeof current === "object" ? JSON.stringify(current) : String(current);
  const common = { name: spec.name, dataset: { type: spec.type, sensitive: spec.sensitive ? "true" : "" }, title: spec.name };
  let control;
  if (spec.type === "BOOLEAN" || (spec.type === "ENUM" && spec.values)) {
    const choices = spec.type === "BOOLEAN" ? ["true", "false"] : spec.values;
    control = h("select", { ...common, value: text || spec.defaultValue || "" },
      spec.mandatory ? null : h("option", { value: "" }, ""), choices.map((choice) => h("option", { value: choice }, choice)));
  } else if (spec.sensitive) {
    // A stored secret is never sent back: left empty, the server keeps it.
    control = h("input", { ...common, type: "password", autocomplete: "new-password",
      placeholder: editing ? "unchanged (leave empty to keep)" : "", maxlength: spec.size });
  } else {
    control = h("input", { ...common, type: spec.type === "INTEGER" ? "number" : "text", value: text,
      placeholder: spec.type === "MAP" ? '{"key": "value"}' : spec.defaultValue || "", maxlength: spec.size });
  }
  return h("label", {}, h("span", { className: spec.mandatory ? "mandatory" : "" }, shortName), control);
}

/** The CDM link body from the form: only the inputs given a value. */
function linkFromForm(form) {
  const inputs = [];
  for (const control of $$("#link-inputs [name]", form)) {
    const value = control.value.trim() === "" ? "" : control.value;
    if (value === "") continue;
    inputs.push({ name: control.name, value: control.dataset.type === "MAP" ? parseMaybeJson(value) : value });
  }
  return { links: [{
    name: form.elements.name.value.trim(),
    "connector-name": form.elements.connector.value,
    enabled: form.elements.enabled.checked,
    "link-config-values": { configs: [{ name: "linkConfig", inputs }] },
  }] };
}

function parseMaybeJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

async function testLink(form, result) {
  result.className = "";
  result.textContent = "Testing the connection…";
  try {
    // CreateLink with validate=true connects and saves nothing (docs/decisions/0007).
    await request("POST", cdm("/link?validate=true"), linkFromForm(form));
    result.className = "ok";
    result.textContent = "Connection works.";
  } catch (error) {
    result.className = "error";
    result.textContent = `Connection failed: ${error.message}`;
  }
}

async function saveLink(event, form, existing, result) {
  event.preventDefault();
  const body = linkFromForm(form);
  try {
    if (existing) await api.put(`/link/${enc(existing.name)}`, body);
    else await api.post("/link", body);
    flash(`Link ${body.links[0].name} saved.`);
    go("#/links");
  } catch (error) {
    result.className = "error";
    result.textContent = error.message;
  }
}

// --- jobs list -------------------------------------------------------------------------------

const knownGroups = new Set();
const jobFilters = { name: "", group: "", status: "" };

async function showJobs() {
  const generation = viewGeneration;
  const holder = h("div", { id: "jobs-holder" });
  const toolbar = jobsToolbar(generation, holder);
  render(generation,
    h("div", { className: "toolbar" }, h("h1", {}, "Jobs"), h("span", { className: "spacer" }),
      h("button", { type: "button", className: "primary", onclick: () => go("#/jobs/new") }, "New job")),
    toolbar, holder);
  await refreshJobs(generation, holder);
  poll(generation, POLL_MS, () => refreshLiveRows(holder));
}

function jobsToolbar(generation, holder) {
  // This view's generation: a search typed just before leaving the view does not redraw the next one.
  const refresh = () => refreshJobs(generation, holder);
  const search = h("input", { type: "search", id: "job-search", placeholder: "Search by name", value: jobFilters.name,
    oninput: debounce(() => { jobFilters.name = search.value.trim(); refresh(); }, 300) });
  const group = h("select", { id: "job-group", onchange: () => { jobFilters.group = group.value; refresh(); } },
    h("option", { value: "" }, "All groups"), [...knownGroups].sort().map((g) => h("option", { value: g }, g)));
  group.value = jobFilters.group;
  const status = h("select", { id: "job-status-filter", value: jobFilters.status,
    onchange: () => { jobFilters.status = status.value; refresh(); } },
  [["", "All statuses"], ["NEW", "Never run"], ["RUNNING", "Running"], ["SUCCEEDED", "Succeeded"], ["FAILED", "Failed"]]
    .map(([value, label]) => h("option", { value }, label)));
  return h("div", { className: "toolbar" }, search, group, status, h("span", { className: "spacer" }),
    h("button", { type: "button", id: "bulk-start", onclick: () => bulk("start", refresh) }, "Start selected"),
    h("button", { type: "button", id: "bulk-stop", onclick: () => bulk("stop", refresh) }, "Stop selected"));
}

function debounce(fn, ms) {
  let timer;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(fn, ms);
  };
}

function matchesStatus(job) {
  if (!jobFilters.status) return true;
  if (jobFilters.status === "RUNNING") return LIVE_STATUSES.has(job.status);
  return job.status === jobFilters.status;
}

const JOB_TYPES = ["NORMAL_JOB", "BATCH_JOB"];

async function refreshJobs(generation, holder) {
  const query = new URLSearchParams({ page_size: "1000" });
  if (jobFilters.name) query.set("filter", jobFilters.name);
  if (jobFilters.group) query.set("group_name", jobFilters.group);
  // Table jobs and entire-database jobs are listed apart by the API (jobType): both are shown here.
  const pages = await Promise.all(JOB_TYPES.map((type) => {
    const typed = new URLSearchParams(query);
    typed.set("jobType", type);
    return api.get(`/job/all?${typed}`);
  }));
  const page = { jobs: pages.flatMap((typed) => typed.jobs), total: pages.reduce((sum, typed) => sum + typed.total, 0) };
  if (generation !== viewGeneration) return;
  for (const job of page.jobs) knownGroups.add(job.group_name);
  addGroupOptions();
  const jobs = page.jobs.filter(matchesStatus);
  holder.replaceChildren(
    table(["", "Name", "Group", "From → To", "Status", "Progress", "Rows", "Rows/s", "ETA", "Last run", ""],
      jobs.map(jobRow), "No job matches.", "jobs-table"),
    h("p", { className: "hint" }, `${jobs.length} of ${page.total} jobs shown.`));
}

function addGroupOptions() {
  const select = $("#job-group");
  if (!select) return;
  const present = new Set($$("option", select).map((option) => option.value));
  for (const group of [...knownGroups].sort()) if (!present.has(group)) select.append(h("option", { value: group }, group));
}

function jobRow(job) {
  const live = LIVE_STATUSES.has(job.status);
  return h("tr", { dataset: { job: job.name, status: job.status } },
    h("td", {}, h("input", { type: "checkbox", className: "pick", "aria-label": `select ${job.name}`, value: job.name })),
    h("td", {}, h("a", { href: `#/jobs/show/${enc(job.name)}` }, job.name),
      job.job_type === "BATCH_JOB" ? h("span", { className: "hint" }, " whole database") : ""),
    h("td", {}, job.group_name),
    h("td", {}, `${job["from-link-name"]} → ${job["to-link-name"]}`),
    h("td", { className: "status-cell" }, statusBadge(job.status)),
    h("td", { className: "progress-cell" }, progressBar(job.status === "SUCCEEDED" ? 100 : live ? 0 : null)),
    h("td", { className: "num rows-cell" }, formatCount(job.rows_written)),
    h("td", { className: "num rate-cell" }, "—"),
    h("td", { className: "num eta-cell" }, "—"),
    h("td", {}, formatTime(job.execute_update_date)),
    h("td", { className: "actions" },
      h("button", { type: "button", onclick: () => startJob(job.name) }, "Start"),
      h("button", { type: "button", onclick: () => stopJob(job.name) }, "Stop"),
      h("button", { type: "button", onclick: () => go(`#/jobs/edit/${enc(job.name)}`) }, "Edit"),
      h("button", { type: "button", onclick: () => go(`#/history?job=${enc(job.name)}`) }, "History"),
      h("button", { type: "button", className: "danger", onclick: () => deleteJob(job.name) }, "Delete")));
}

/** Live rows of the list: each running job's status, every second, drawn in its row. */
async function refreshLiveRows(holder) {
  const rows = $$("tr[data-job]", holder).filter((row) => LIVE_STATUSES.has(row.dataset.status));
  await Promise.all(rows.map(async (row) => {
    const submission = await lastSubmission(row.dataset.job);
    const live = liveFigures(submission);
    row.dataset.status = submission.status;
    $(".status-cell", row).replaceChildren(statusBadge(submission.status));
    $(".progress-cell", row).replaceChildren(progressBar(live.progress));
    $(".rows-cell", row).textContent = formatCount(live.rows);
    $(".rate-cell", row).textContent = formatRate(live.rate);
    $(".eta-cell", row).textContent = live.eta === null ? "—" : formatDuration(live.eta);
  }));
  return true;
}

async function lastSubmission(jobName) {
  return (await api.get(`/job/${enc(jobName)}/status`)).submissions[0];
}

async function startJob(name) {
  try {
    await api.put(`/job/${enc(name)}/start`, {});
    flash(`Job ${name} started.`);
  } catch (error) {
    flash(error.message, true);
  }
  route();
}

async function stopJob(name) {
  try {
    await api.put(`/job/${enc(name)}/stop`);
    flash(`Stop requested for job ${name}.`);
  } catch (error) {
    flash(error.message, true);
  }
  route();
}

async function deleteJob(name) {
  if (!confirm(`Delete job ${name}?`)) return;
  try {
    await api.del(`/job/${enc(name)}`);
    flash(`Job ${name} deleted.`);
  } catch (error) {
    flash(error.message, true);
  }
  route();
}

/** Start or stop every selected job, one request each; the refusals are listed. */
async function bulk(action, refresh) {
  const names = $$("#jobs-table input.pick:checked").map((box) => box.value);
  if (!names.length) {
    showNotice("Select jobs first.", true);
    return;
  }
  const failures = [];
  for (const name of names) {
    try {
      await api.put(`/job/${enc(name)}/${action}`, action === "start" ? {} : undefined);
    } catch (error) {
      failures.push(`${name}: ${error.message}`);
    }
  }
  await refresh();
  const done = `${action === "start" ? "Started" : "Stop requested for"} ${names.length - failures.length} of ${names.length} jobs.`;
  showNotice(failures.length ? `${done}\n${failures.join("\n")}` : done, failures.length > 0);
}

// --- live figures of a run -------------------------------------------------------------------

// The last sample of each job's rows, to measure a rate when the server gives none.
const lastSamples = new Map();

/** Rows, rate, ETA and progress of a submission: the server's figures, or measured between polls. */
function liveFigures(submission) {
  const counters = (submission.counters || {})[COUNTERS] || {};
  const rows = counters.ROWS_WRITTEN ?? submission.write_rows ?? 0;
  const now = Date.now();
  const previous = lastSamples.get(submission["job-name"]);
  lastSamples.set(submission["job-name"], { rows, at: now });
  let rate = submission["rows-per-second"] ?? null;
  if (rate === null && previous && now > previous.at && rows >= previous.rows) {
    rate = ((rows - previous.rows) * 1000) / (now - previous.at);
  }
  const progress = progressOf(submission);
  let eta = submission["eta-seconds"] ?? null;
  if (eta === null && LIVE_STATUSES.has(submission.status) && progress > 0 && submission["execute-date"]) {
    const elapsed = (now - submission["execute-date"]) / 1000;
    eta = (elapsed * (100 - progress)) / progress;
  }
  if (!LIVE_STATUSES.has(submission.status)) eta = null;
  return { rows, rate, eta, progress, read: counters.ROWS_READ ?? null };
}

function progressOf(submission) {
  if (submission.status === "SUCCEEDED") return 100;
  if (submission.status === "NEVER_EXECUTED") return 0;
  return submission.progress >= 0 ? submission.progress : null;
}

function durationOf(submission) {
  const start = submission["execute-date"];
  const end = submission["last-update-date"];
  return start && end ? (end - start) / 1000 : null;
}

// --- one job, live ---------------------------------------------------------------------------

async function showJob(name) {
  const generation = viewGeneration;
  const panel = h("div", { id: "job-panel" });
  const runs = h("div", { id: "job-runs" });
  const family = h("div", { id: "job-family" });
  render(generation,
    h("div", { className: "toolbar" }, h("h1", {}, `Job ${name}`), h("span", { className: "spacer" }),
      h("button", { type: "button", id: "job-start", className: "primary", onclick: () => startFromPage(name) }, "Start"),
      h("button", { type: "button", id: "job-stop", onclick: () => stopFromPage(name) }, "Stop"),
      h("button", { type: "button", onclick: () => go(`#/jobs/edit/${enc(name)}`) }, "Edit"),
      h("button", { type: "button", onclick: () => go(`#/history?job=${enc(name)}`) }, "History")),
    panel, family, h("h2", {}, "Recent runs"), runs);
  await followJob(generation, name, panel, runs, family);
}

/** An entire-database job's sub-jobs, one per table; a sub-job's own job. */
function drawFamily(holder, job) {
  const link = (jobName) => h("a", { href: `#/jobs/show/${enc(jobName)}` }, jobName);
  if (job["sub-jobs"]) {
    holder.replaceChildren(h("h2", {}, "Tables (sub-jobs)"), job["sub-jobs"].length
      ? h("ul", {}, job["sub-jobs"].map((sub) => h("li", {}, link(sub))))
      : h("p", { className: "hint" }, "Made at the job's first run, one per table."));
  } else if (job["parent-job"]) {
    holder.replaceChildren(h("p", {}, "One table of the entire-database job ", link(job["parent-job"]), "."));
  }
}

/** Draw the job's last run now, then every second while it runs; the runs table, and an
 * entire-database job's tables (made by its runs), once it ends. */
async function followJob(generation, name, panel, runs, family) {
  const submission = await lastSubmission(name);
  drawJobPanel(panel, submission);
  await drawRuns(runs, name, 10);
  drawFamily(family, (await api.get(`/job/${enc(name)}`)).jobs[0]);
  if (!LIVE_STATUSES.has(submission.status)) return;
  poll(generation, POLL_MS, async () => {
    const latest = await lastSubmission(name);
    drawJobPanel(panel, latest);
    await drawRuns(runs, name, 10);
    const live = LIVE_STATUSES.has(latest.status);
    if (!live) drawFamily(family, (await api.get(`/job/${enc(name)}`)).jobs[0]);
    return live;
  });
}

function drawJobPanel(panel, submission) {
  const live = liveFigures(submission);
  const stat = (label, id, value) => h("div", { className: "stat" }, h("div", { className: "k" }, label), h("div", { className: "v", id }, value));
  const running = LIVE_STATUSES.has(submission.status);
  panel.replaceChildren(
    h("p", {}, "Status ", statusBadge(submission.status, "job-status"),
      submission["submission-id"] ? ` run #${submission["submission-id"]}` : ""),
    progressBar(live.progress, true, "job-progress"),
    h("div", { className: "stats" },
      stat("Rows written", "job-rows", formatCount(live.rows)),
      stat("Rows read", "job-rows-read", formatCount(live.read)),
      stat("Rows/s", "job-rate", formatRate(live.rate)),
      stat("ETA", "job-eta", running ? formatDuration(live.eta) : "—"),
      stat(running ? "Elapsed" : "Duration", "job-duration",
        formatDuration(running && submission["execute-date"] ? (Date.now() - submission["execute-date"]) / 1000 : durationOf(submission))),
      stat("Started", "job-started", formatTime(submission["execute-date"]))),
    h("p", { className: "error", id: "job-error", hidden: !submission["error-summary"] }, submission["error-summary"] || ""));
  for (const [id, disabled] of [["#job-start", running], ["#job-stop", !running]]) {
    const button = $(id);
    if (button) button.disabled = disabled;
  }
}

async function startFromPage(name) {
  try {
    await api.put(`/job/${enc(name)}/start`, {});
    clearNotice();
  } catch (error) {
    showNotice(error.message, true);
  }
  route();
}

async function stopFromPage(name) {
  try {
    await api.put(`/job/${enc(name)}/stop`);
    showNotice(`Stop requested for job ${name}.`);
  } catch (error) {
    showNotice(error.message, true);
  }
}

// --- history and logs ------------------------------------------------------------------------

async function drawRuns(holder, jobName, pageSize) {
  const page = await api.get(`/submissions?jname=${enc(jobName)}&page_size=${pageSize}`);
  holder.replaceChildren(runsTable(page.submissions));
}

function runsTable(submissions) {
  const rows = submissions.map((s) => {
    const counters = (s.counters || {})[COUNTERS] || {};
    const duration = durationOf(s);
    const rate = s["rows-per-second"] ?? (duration && counters.ROWS_WRITTEN ? counters.ROWS_WRITTEN / duration : null);
    return h("tr", { dataset: { submission: s["submission-id"], job: s["job-name"] } },
      h("td", { className: "num" }, s["submission-id"] ?? "—"),
      h("td", {}, s["job-name"]),
      h("td", {}, statusBadge(s.status)),
      h("td", {}, formatTime(s["execute-date"] || s["creation-date"])),
      h("td", { className: "num" }, formatDuration(duration)),
      h("td", { className: "num" }, formatCount(counters.ROWS_READ)),
      h("td", { className: "num" }, formatCount(counters.ROWS_WRITTEN)),
      h("td", { className: "num" }, formatRate(rate)),
      h("td", { className: "error" }, s["error-summary"] || ""),
      h("td", {}, s["submission-id"] ? h("a", { href: `#/log/${s["submission-id"]}?job=${enc(s["job-name"])}` }, "Log") : ""));
  });
  return table(["Run", "Job", "Status", "Started", "Duration", "Rows read", "Rows written", "Rows/s", "Error", ""],
    rows, "No run yet.", "runs-table");
}

async function allJobNames() {
  return (await api.get("/job/all?page_size=1000")).jobs.map((job) => job.name);
}

/** Every submission of one job, or of all jobs (their latest 50 each), newest first. */
async function showHistory(jobName) {
  const generation = viewGeneration;
  const names = await allJobNames();
  const chosen = names.includes(jobName) ? [jobName] : names;
  const pages = await Promise.all(chosen.map((name) => api.get(`/submissions?jname=${enc(name)}&page_size=50`)));
  const submissions = pages.flatMap((page) => page.submissions)
    .sort((a, b) => (b["creation-date"] || 0) - (a["creation-date"] || 0));
  const picker = h("select", { id: "history-job", value: jobName,
    onchange: () => go(picker.value ? `#/history?job=${enc(picker.value)}` : "#/history") },
  h("option", { value: "" }, "All jobs"), names.map((name) => h("option", { value: name }, name)));
  render(generation,
    h("div", { className: "toolbar" }, h("h1", {}, "History"), h("span", { className: "spacer" }), picker),
    runsTable(submissions));
}

async function showLog(submissionId, jobName) {
  const generation = viewGeneration;
  const lines = h("div", { id: "log-lines" });
  const heading = h("p", { id: "log-heading" });
  render(generation,
    h("div", { className: "toolbar" }, h("h1", {}, `Log of run #${submissionId}`), h("span", { className: "spacer" }),
      jobName ? h("a", { href: `#/history?job=${enc(jobName)}` }, `History of ${jobName}`) : null),
    heading, lines);
  const drawLog = async () => {
    const log = await api.get(`/submissions/${submissionId}/log`);
    heading.replaceChildren(`Job ${log["job-name"]} `, statusBadge(log.status, "log-status"));
    lines.replaceChildren(logTable(log.lines || []));
    return LIVE_STATUSES.has(log.status); // a running job's log keeps growing
  };
  if (await drawLog()) poll(generation, 2 * POLL_MS, drawLog);
}

function logTable(lines) {
  const rows = lines.map((line) => h("tr", { className: line.level },
    h("td", {}, new Date(line.time).toISOString().replace("T", " ").replace("Z", "")),
    h("td", {}, line.level),
    h("td", {}, line.message)));
  return h("table", { className: "log", id: "log-table" },
    h("thead", {}, h("tr", {}, h("th", {}, "Time (UTC)"), h("th", {}, "Level"), h("th", {}, "Message"))),
    h("tbody", {},
    rows.length ? rows : [h("tr", {}, h("td", { className: "empty" }, "No log line."))]));
}

// --- job form --------------------------------------------------------------------------------

/** A job being edited: the CDM job object; the form edits a part of it, the JSON tab all of it. */
function newJobDraft() {
  return {
    name: "", job_type: "NORMAL_JOB",
    "from-connector-name": "", "from-link-name": "", "to-connector-name": "", "to-link-name": "",
    "from-config-values": { configs: [{ name: "fromJobConfig", inputs: [] }] },
    "to-config-values": { configs: [{ name: "toJobConfig", inputs: [] }] },
    "driver-config-values": { configs: [
      { name: "throttlingConfig", inputs: [{ name: "throttlingConfig.numExtractors", value: "1" }] }] },
  };
}

// What CreateJob / UpdateJob take; ShowJobs adds the last run's status and counters, left out here.
const JOB_INPUT_KEYS = ["name", "job_type", "from-connector-name", "from-link-name", "to-connector-name",
  "to-link-name", "from-config-values", "to-config-values", "driver-config-values"];

function editableJob(shown) {
  return Object.fromEntries(JOB_INPUT_KEYS.filter((key) => key in shown).map((key) => [key, shown[key]]));
}

function configInputs(configValues) {
  return (configValues?.configs || []).flatMap((config) => config.inputs || []);
}

function driverValue(job, name) {
  const found = configInputs(job["driver-config-values"]).find((input) => input.name === name);
  return found ? String(found.value ?? "") : "";
}

/** The job with driver input ``name`` set (or removed when empty), in its own config group. */
function setDriverValue(job, name, value) {
  const group = name.split(".")[0];
  const configs = (job["driver-config-values"] ||= { configs: [] }).configs;
  let config = configs.find((c) => c.name === group);
  if (!config) configs.push((config = { name: group, inputs: [] }));
  config.inputs = (config.inputs || []).filter((input) => input.name !== name);
  if (value !== "") config.inputs.push({ name, value });
}

async function showJobForm(name) {
  const generation = viewGeneration;
  const [{ links }, available] = await Promise.all([api.get("/links"), connectors()]);
  const draft = name ? editableJob((await api.get(`/job/${enc(name)}`)).jobs[0]) : newJobDraft();
  const editor = new JobEditor(draft, links, available, Boolean(name));
  render(generation, h("h1", {}, name ? `Job ${name}` : "New job"), editor.element);
}

class JobEditor {
  constructor(draft, links, available, editing) {
    this.job = structuredClone(draft);
    this.links = links;
    this.connectors = available;
    this.editing = editing;
    this.mode = "form";
    this.result = h("p", { id: "job-result", role: "status" });
    this.body = h("div", {});
    this.tabs = h("div", { className: "tabs" },
      h("button", { type: "button", id: "tab-form", onclick: () => this.switchTo("form") }, "Form"),
      h("button", { type: "button", id: "tab-json", onclick: () => this.switchTo("json") }, "CDM JSON"));
    this.element = h("form", { id: "job-form", className: "card", onsubmit: (event) => this.save(event) },
      this.tabs, this.body,
      h("div", { className: "toolbar" },
        h("button", { type: "submit", className: "primary" }, editing ? "Save" : "Create"),
        h("button", { type: "button", onclick: () => go("#/jobs") }, "Cancel")),
      this.result);
    this.drawForm();
  }

  switchTo(mode) {
    if (mode === this.mode) return;
    try {
      this.collect();
    } catch (error) {
      this.result.className = "error";
      this.result.textContent = error.message;
      return;
    }
    this.mode = mode;
    this.result.textContent = "";
    if (mode === "form") this.drawForm();
    else this.drawJson();
  }

  /** Read what is shown (form or JSON) back into this.job. */
  collect() {
    if (this.mode === "json") {
      const parsed = JSON.parse($("#job-json", this.body).value);
      this.job = Array.isArray(parsed.jobs) ? parsed.jobs[0] : parsed;
      return;
    }
    const form = this.element.elements;
    this.job.name = form.jobName.value.trim();
    this.setLink("from", form.fromLink.value);
    this.setLink("to", form.toLink.value);
    this.job["from-config-values"] = pairsToConfig("fromJobConfig", $("#from-inputs", this.body));
    this.job["to-config-values"] = pairsToConfig("toJobConfig", $("#to-inputs", this.body));
    setDriverValue(this.job, "throttlingConfig.numExtractors", form.extractors.value.trim());
    setDriverValue(this.job, "groupJobConfig.groupName", form.group.value.trim());
  }

  setLink(side, linkName) {
    const link = this.links.find((l) => l.name === linkName);
    this.job[`${side}-link-name`] = linkName;
    this.job[`${side}-connector-name`] = link ? link["connector-name"] : "";
  }

  connectorOf(linkName) {
    const link = this.links.find((l) => l.name === linkName);
    return this.connectors.find((c) => link && c.name === link["connector-name"]);
  }

  drawForm() {
    this.markTab("form");
    const linkSelect = (field, current) => h("select", { name: field, required: true, value: current },
      h("option", { value: "" }, "— choose a link —"), this.links.map((l) => h("option", { value: l.name }, l.name)));
    const fromSelect = linkSelect("fromLink", this.job["from-link-name"]);
    const toSelect = linkSelect("toLink", this.job["to-link-name"]);
    const fromPairs = h("div", { id: "from-inputs", className: "pairs" });
    const toPairs = h("div", { id: "to-inputs", className: "pairs" });
    const fill = () => {
      this.fillPairs(fromPairs, "from", fromSelect.value, configInputs(this.job["from-config-values"]));
      this.fillPairs(toPairs, "to", toSelect.value, configInputs(this.job["to-config-values"]));
    };
    fromSelect.addEventListener("change", () => { this.collect(); fill(); });
    toSelect.addEventListener("change", () => { this.collect(); fill(); });
    this.body.replaceChildren(
      h("label", {}, "Name", h("input", { name: "jobName", required: true, value: this.job.name, readOnly: this.editing })),
      h("div", { className: "grid2" },
        h("div", {}, h("label", {}, "From link", fromSelect), h("div", { className: "hint" }, "Source inputs"), fromPairs,
          h("button", { type: "button", onclick: () => fromPairs.append(this.pair("from", fromSelect.value, "", "")) }, "Add input")),
        h("div", {}, h("label", {}, "To link", toSelect), h("div", { className: "hint" }, "Destination inputs"), toPairs,
          h("button", { type: "button", onclick: () => toPairs.append(this.pair("to", toSelect.value, "", "")) }, "Add input"))),
      h("div", { className: "grid2" },
        h("label", {}, "Group", h("input", { name: "group", value: driverValue(this.job, "groupJobConfig.groupName"), placeholder: "DEFAULT" })),
        h("label", {}, "Extractors", h("input", { name: "extractors", type: "number", min: 1,
          value: driverValue(this.job, "throttlingConfig.numExtractors") }))));
    fill();
  }

  /** The name/value rows of one side; a new job gets the usual inputs its connector accepts. */
  fillPairs(holder, side, linkName, inputs) {
    const connector = this.connectorOf(linkName);
    const accepted = connector ? connector[`${side}-inputs`] : [];
    let shown = inputs.map((input) => [input.name, input.value]);
    if (!shown.length && connector) {
      const usual = side === "from" ? Object.fromEntries(USUAL_FROM_INPUTS.map((n) => [n, ""])) : USUAL_TO_INPUTS;
      shown = Object.entries(usual).filter(([inputName]) => accepted.includes(inputName));
    }
    const listId = `${side}-input-names`;
    holder.replaceChildren(h("datalist", { id: listId }, accepted.map((n) => h("option", { value: n }))),
      ...shown.map(([inputName, value]) => this.pair(side, linkName, inputName, value)));
  }

  pair(side, linkName, inputName, value) {
    const text = value === null || value === undefined ? "" : typeof value === "object" ? JSON.stringify(value) : String(value);
    const valueInput = h("input", { className: "pair-value", value: text, "aria-label": inputName || "value" });
    const nameInput = h("input", { className: "pair-name", value: inputName, list: `${side}-input-names`,
      placeholder: `${side}JobConfig.…`, "aria-label": `${side} input name`,
      oninput: () => valueInput.setAttribute("aria-label", nameInput.value || "value") });
    const row = h("div", { className: "pair" }, nameInput, valueInput,
      h("button", { type: "button", "aria-label": "remove", onclick: () => row.remove() }, "✕"));
    return row;
  }

  drawJson() {
    this.markTab("json");
    this.body.replaceChildren(h("label", {}, "The job as CDM's API takes it ({\"jobs\": [ … ]})",
      h("textarea", { id: "job-json", rows: 24, spellcheck: "false", value: JSON.stringify({ jobs: [this.job] }, null, 2) })));
  }

  markTab(mode) {
    $("#tab-form", this.tabs).classList.toggle("active", mode === "form");
    $("#tab-json", this.tabs).classList.toggle("active", mode === "json");
  }

  async save(event) {
    event.preventDefault();
    try {
      this.collect();
      const body = { jobs: [this.job] };
      if (this.editing) await api.put(`/job/${enc(this.job.name)}`, body);
      else await api.post("/job", body);
      flash(`Job ${this.job.name} saved.`);
      go(`#/jobs/show/${enc(this.job.name)}`);
    } catch (error) {
      this.result.className = "error";
      this.result.textContent = error.message;
    }
  }
}

function pairsToConfig(configName, holder) {
  const inputs = $$(".pair", holder)
    .map((row) => ({ name: $(".pair-name", row).value.trim(), value: $(".pair-value", row).value }))
    .filter((input) => input.name && input.value !== "");
  return { configs: [{ name: configName, inputs }] };
}

// --- start -----------------------------------------------------------------------------------

function start() {
  $("#sign-in-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = $("button[type=submit]", event.target);
    button.disabled = true;
    try {
      await signIn(event.target);
      event.target.reset();
      if (!location.hash || location.hash === "#/") location.hash = "#/jobs";
      route();
    } catch (error) {
      session.clear();
      showSignedOut(`Sign-in failed: ${error.message}`);
    } finally {
      button.disabled = false;
    }
  });
  $("#sign-out").addEventListener("click", () => signOut());
  $("#cluster").addEventListener("change", (event) => {
    session.save({ ...session.load(), clusterId: event.target.value });
    connectorsCache = null;
    knownGroups.clear();
    route();
  });
  window.addEventListener("hashchange", route);
  route();
}

start();
