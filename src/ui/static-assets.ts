import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Asset {
  body: Buffer;
  type: string;
}

/**
 * The pages' files: src/ui/static, found from this module whether it runs from src/ui (tests, tsx) or
 * dist/ui (the built bin): both sit two folders below the package root, which ships src/.
 */
export const staticDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/ui/static');

const types: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/** Every file the dashboard serves, by URL path, read once at start (a few tens of kB). Nothing else is reachable. */
export function loadAssets(): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const name of fs.readdirSync(staticDir)) {
    const type = types[path.extname(name)];
    if (type && /^[\w.-]+$/.test(name)) assets.set(`/static/${name}`, { body: fs.readFileSync(path.join(staticDir, name)), type });
  }
  // uPlot from the installed package (a dependency): nothing is fetched from the internet.
  const uplotDir = path.dirname(createRequire(import.meta.url).resolve('uplot'));
  assets.set('/vendor/uPlot.iife.min.js', { body: fs.readFileSync(path.join(uplotDir, 'uPlot.iife.min.js')), type: types['.js'] });
  assets.set('/vendor/uPlot.min.css', { body: fs.readFileSync(path.join(uplotDir, 'uPlot.min.css')), type: types['.css'] });
  return assets;
}
