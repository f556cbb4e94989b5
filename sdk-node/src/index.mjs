// What step files may import at run time from '@motiad/sdk'. Types live in
// ../index.d.ts.

export { NonRetryableError } from './errors.mjs';
