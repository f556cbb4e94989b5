// Node module hooks (module.register, src/motia-resolve.mjs): `motia` is
// motiad's module in a step child.

/** @type {string} the URL of src/motia.cjs, given at registration */
let motiaUrl = '';

/** @param {{url: string}} data */
export function initialize(data) {
  motiaUrl = data.url;
}

/**
 * @param {string} specifier
 * @param {unknown} context
 * @param {(specifier: string, context?: unknown) => Promise<{url: string}>} nextResolve
 * @returns {Promise<{url: string, format?: string, shortCircuit?: boolean}>}
 */
export async function resolve(specifier, context, nextResolve) {
  if (specifier === 'motia') return { url: motiaUrl, format: 'commonjs', shortCircuit: true };
  return nextResolve(specifier, context);
}
