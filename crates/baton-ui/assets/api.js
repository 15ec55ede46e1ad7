// The one way the UI talks to Baton: the public REST API, as any client does.

import { authHeaders, expired } from './session.js';

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

/** Calls the API; answers parsed JSON, text, or null for an empty body. Errors become
 * ApiError with the server's message (Conductor's error shape) when there is one. */
export async function api(method, path, body, { raw = false } = {}) {
  const init = { method, headers: { Accept: 'application/json, text/plain', ...authHeaders() } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = typeof body === 'string' && raw ? body : JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(`/api${path}`, init);
  } catch (e) {
    throw new ApiError(0, `the server did not answer (${e.message})`, null);
  }
  const text = await res.text();
  const type = res.headers.get('content-type') || '';
  let data = text;
  if (text && type.includes('json')) {
    try { data = JSON.parse(text); } catch { data = text; }
  }
  if (res.status === 401) expired();
  if (!res.ok) {
    const message = (data && typeof data === 'object' && data.message) || text || res.statusText;
    throw new ApiError(res.status, `${res.status}: ${message}`, data);
  }
  return text === '' ? null : data;
}

export const get = (path) => api('GET', path);

/** A query string from an object, skipping empty values. */
export function qs(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  }
  const s = p.toString();
  return s ? `?${s}` : '';
}

export const enc = encodeURIComponent;

export const WORKFLOW_STATUSES = ['RUNNING', 'PAUSED', 'COMPLETED', 'FAILED', 'TIMED_OUT', 'TERMINATED'];

/** Search query text (the API's grammar, §2.7) from filter fields. */
export function searchQuery({ workflowType, statuses, correlationId, from, to, raw }) {
  const parts = [];
  if (workflowType) parts.push(`workflowType IN (${workflowType})`);
  if (statuses && statuses.length) parts.push(`status IN (${statuses.join(',')})`);
  if (correlationId) parts.push(`correlationId = ${correlationId}`);
  if (from) parts.push(`startTime > ${from}`);
  if (to) parts.push(`startTime < ${to}`);
  if (raw) parts.push(raw);
  return parts.join(' AND ');
}

/** How many executions match `filters` with `status`: one row asked for, totalHits read. */
export async function countWith(filters, status) {
  const query = searchQuery({ ...filters, statuses: [status] });
  const r = await get(`/workflow/search${qs({ size: 1, query, freeText: filters.freeText })}`);
  return r.totalHits;
}
