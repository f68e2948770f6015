// stratolink dashboard: operator log-in and commanding.
// The command form is built from the server's command contract (/api/commands/contract):
// every action, its parameters with units and limits, and the role it needs. Command states
// arrive live; the table shows each command's state and the balloon's reason. A cut-down
// needs a second, deliberate confirmation. Loaded before app.js, which calls these functions.
"use strict";

const CMD = { contract: null, gateway: null, role: sessionStorage.getItem("stratolink.role") };
const ROLE_ORDER = ["viewer", "operator", "flight-director"];
const STATE_TEXT = { queued: "queued", sent: "sent", accepted: "accepted", rejected: "rejected",
  done: "done", expired: "expired" };

function roleAllows(role, needed) {
  return ROLE_ORDER.indexOf(role) >= ROLE_ORDER.indexOf(needed) && ROLE_ORDER.indexOf(needed) >= 0;
}

function describeAction(a) {
  if (!a || typeof a !== "object") return "?";
  const spec = CMD.contract && CMD.contract.actions.find((x) => x.type === a.type);
  if (!spec) return String(a.type);
  const parts = spec.parameters.filter((p) => a[p.name] !== undefined && a[p.name] !== null)
    .map((p) => `${p.label} ${typeof a[p.name] === "number" ? a[p.name].toLocaleString("en-US") : a[p.name]}${p.unit ? " " + p.unit : ""}`);
  return [spec.label, ...parts].join(" · ");
}

function renderCommands(flashId) {
  const body = $("commands").querySelector("tbody");
  const rows = [...S.commands.values()].sort((a, b) => b.id - a.id).slice(0, 100);
  body.innerHTML = rows.map((c) =>
    `<tr data-command-id="${c.id}" data-seq="${c.seq}" data-state="${escapeHtml(c.state)}" class="${c.id === flashId ? "flash" : ""}">` +
    `<td>${c.seq}</td><td>${escapeHtml(c.balloon_id)}</td><td class="action">${escapeHtml(describeAction(c.action))}</td>` +
    `<td>${escapeHtml(c.operator)}</td><td><span class="state ${escapeHtml(c.state)}">${escapeHtml(STATE_TEXT[c.state] || c.state)}</span></td>` +
    `<td class="reason">${escapeHtml(c.reason || "")}</td>` +
    `<td>${new Date(c.updated_at * 1000).toISOString().slice(11, 19)}</td></tr>`).join("");
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[ch]);
}

function forgetSession() {
  S.token = null; S.user = null; CMD.role = null;
  for (const k of ["token", "user", "role"]) sessionStorage.removeItem(`stratolink.${k}`);
}

function renderAuth() {
  const logged = Boolean(S.token);
  $("login-form").hidden = logged;
  $("operator-box").hidden = !logged;
  $("operator-name").textContent = logged ? `${S.user} (${CMD.role || "?"})` : "";
  $("predict-btn").disabled = !logged || !roleAllows(CMD.role, "operator");
  renderCommandForm();
}

// ---------------------------------------------------------------- the form, from the contract
function renderCommandTypes() {
  const sel = $("cmd-type");
  if (!CMD.contract) return;
  const current = sel.value;
  sel.innerHTML = CMD.contract.actions.map((a) =>
    `<option value="${escapeHtml(a.type)}" data-role="${escapeHtml(a.role)}">${escapeHtml(a.label)}</option>`).join("");
  if (current) sel.value = current;
  renderParameters();
}

function currentSpec() {
  return CMD.contract && CMD.contract.actions.find((a) => a.type === $("cmd-type").value);
}

function renderParameters() {
  const spec = currentSpec();
  const box = $("cmd-params");
  if (!spec) { box.innerHTML = ""; return; }
  box.innerHTML = spec.parameters.map((p) => {
    const id = `cmd-p-${p.name}`;
    const title = `${p.label}${p.unit ? " (" + p.unit + ")" : ""}${p.description ? ": " + p.description : ""}`;
    if (p.choices.length) {
      return `<label title="${escapeHtml(title)}">${escapeHtml(p.label)} <select id="${id}" data-param="${escapeHtml(p.name)}">` +
        p.choices.map((c) => `<option>${escapeHtml(c)}</option>`).join("") + `</select></label>`;
    }
    const limits = `${p.minimum !== null ? ` min="${p.minimum}"` : ""}${p.maximum !== null ? ` max="${p.maximum}"` : ""}`;
    return `<label title="${escapeHtml(title)}">${escapeHtml(p.label)} <input id="${id}" data-param="${escapeHtml(p.name)}" type="number" step="any"${limits}` +
      `${p.required ? " required" : ` placeholder="optional"`}>${p.unit ? " " + escapeHtml(p.unit) : ""}</label>`;
  }).join(" ");
  $("cmd-meaning").textContent = `${spec.meaning} Needs the ${spec.role} role.`;
  renderCommandForm();
}

function renderCommandForm() {
  const spec = currentSpec();
  const logged = Boolean(S.token);
  const allowed = logged && spec && roleAllows(CMD.role, spec.role);
  $("cmd-send").disabled = !allowed;
  $("cmd-send").classList.toggle("danger", Boolean(spec && spec.confirm));
  $("cmd-hint").textContent = !logged ? "log in to send"
    : !spec ? "" : allowed ? "signed with your Ed25519 key" : `${spec.label} needs the ${spec.role} role`;
}

function formAction() {
  const spec = currentSpec();
  const action = { type: spec.type };
  for (const el of $("cmd-params").querySelectorAll("[data-param]")) {
    if (el.value === "") continue;
    action[el.dataset.param] = el.tagName === "SELECT" ? el.value : Number(el.value);
  }
  return action;
}

// ---------------------------------------------------------------- link health warning
async function refreshGateway() {
  try { CMD.gateway = await api("/api/gateway"); } catch (e) { CMD.gateway = null; }
  renderGatewayWarning();
}

function renderGatewayWarning() {
  const box = $("link-warning");
  const g = CMD.gateway;
  const balloon = $("cmd-balloon").value;
  let text = "";
  if (!g || !g.gateway_alive) {
    text = "No gateway is connected: commands will wait in the queue and may expire.";
  } else if (balloon && !(g.sessions[balloon] || []).length) {
    text = `No link session with ${balloon} is up: its commands wait until one opens (they expire after their lifetime).`;
  }
  box.textContent = text; box.hidden = !text;
  box.dataset.state = text ? "warn" : "ok";
}

// ---------------------------------------------------------------- sending
async function sendCommand(action) {
  const c = await api("/api/commands", { method: "POST", body: {
    balloon_id: $("cmd-balloon").value, action, lifetime_s: Number($("cmd-life").value) } });
  S.commands.set(c.id, c); renderCommands(c.id); $("cmd-error").textContent = "";
  return c;
}

function confirmCutdown(balloon) {
  // A second, deliberate step: the operator types the balloon's id before the button arms.
  return new Promise((resolve) => {
    const dialog = $("confirm-dialog");
    const input = $("confirm-input"), go = $("confirm-go");
    $("confirm-balloon").textContent = balloon;
    input.value = ""; go.disabled = true;
    input.oninput = () => { go.disabled = input.value.trim() !== balloon; };
    const finish = (ok) => { dialog.close(); resolve(ok); };
    go.onclick = () => finish(true);
    $("confirm-cancel").onclick = () => finish(false);
    dialog.oncancel = () => resolve(false);
    dialog.showModal(); input.focus();
  });
}

function handleAuthError(err) {
  if (/log in/.test(err.message)) { forgetSession(); renderAuth(); }
}

function setupForms() {
  $("login-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const reply = await api("/api/auth/login", { method: "POST", body: { username: $("login-user").value, password: $("login-pass").value } });
      S.token = reply.token; S.user = reply.username; CMD.role = reply.role;
      sessionStorage.setItem("stratolink.token", S.token); sessionStorage.setItem("stratolink.user", S.user);
      sessionStorage.setItem("stratolink.role", CMD.role);
      $("login-error").textContent = ""; $("login-pass").value = "";
    } catch (err) { $("login-error").textContent = err.message; }
    renderAuth();
  });
  $("logout-btn").addEventListener("click", async () => {
    try { await api("/api/auth/logout", { method: "POST" }); } catch (e) { /* already gone */ }
    forgetSession(); renderAuth();
  });
  $("predict-btn").addEventListener("click", async () => {
    if (!S.selected) return;
    try {
      await api(`/api/balloons/${encodeURIComponent(S.selected)}/predict?hours=24&members=200`, { method: "POST" });
      await loadBalloon(S.selected);
      $("cmd-error").textContent = "";
    } catch (err) { $("cmd-error").textContent = `predict: ${err.message}`; handleAuthError(err); }
  });
  $("cmd-type").addEventListener("change", renderParameters);
  $("cmd-balloon").addEventListener("change", renderGatewayWarning);
  $("command-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const spec = currentSpec();
    if (!spec) return;
    const action = formAction();
    if (spec.confirm && !(await confirmCutdown($("cmd-balloon").value))) {
      $("cmd-error").textContent = `${spec.label} not sent`;
      return;
    }
    try { await sendCommand(action); } catch (err) { $("cmd-error").textContent = err.message; handleAuthError(err); }
  });
}

async function setupCommanding() {
  // Is the stored session still good (it may have expired, or been logged out elsewhere)?
  if (S.token) {
    try { const me = await api("/api/auth/me"); CMD.role = me.role; S.user = me.username; }
    catch (err) { forgetSession(); }
  }
  try { CMD.contract = await api("/api/commands/contract"); } catch (e) { CMD.contract = null; }
  renderCommandTypes(); renderAuth();
  await refreshGateway();
  setInterval(refreshGateway, 5000);
  setInterval(async () => {
    if (!S.token) return;
    try { await api("/api/auth/me"); } catch (err) { handleAuthError(err); }
  }, 60000);
}
