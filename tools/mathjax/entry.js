// The single-file MathJax that studykit runs inside an embedded V8 (mini-racer): TeX in, SVG out.
//
// It has no DOM and no loader: MathJax's liteAdaptor stands in for the browser, and every TeX
// package is bundled up front, so nothing is fetched at run time. The functions at the bottom are
// the whole interface; generator/engines/mathjax.py is their only caller.
//
// Packages: the same as Anki's cards (ankitects/anki ts/mathjax/index.ts at 45cc992: base, action,
// ams, autoload, configmacros, mathtools, mhchem, newcommand, noundefined, require; Anki's
// package.json asks for mathjax ^3.1.2, whose newest release is 3.2.2, the version pinned here). "autoload" loads these packages the first time one of their
// commands is used, so bundling them all up front draws the same. Two differ on purpose:
//  - noundefined is left out: on a card it shows an unknown \foo as red text; here it must be an
//    error so that studykit can report it (with a "did you mean") before the card is made;
//  - require is replaced (REQUIRE below): MathJax's needs its component loader; here every
//    package it could load is already in, so \require{name} checks the name and does nothing.

import { mathjax } from 'mathjax-full/ts/mathjax.js';
import { TeX } from 'mathjax-full/ts/input/tex.js';
import { SVG } from 'mathjax-full/ts/output/svg.js';
import { liteAdaptor } from 'mathjax-full/ts/adaptors/liteAdaptor.js';
import { RegisterHTMLHandler } from 'mathjax-full/ts/handlers/html.js';
import { STATE } from 'mathjax-full/ts/core/MathItem.js';
import { MapHandler } from 'mathjax-full/ts/input/tex/MapHandler.js';
import { CommandMap } from 'mathjax-full/ts/input/tex/SymbolMap.js';
import { Configuration } from 'mathjax-full/ts/input/tex/Configuration.js';
import TexError from 'mathjax-full/ts/input/tex/TexError.js';

import 'mathjax-full/ts/input/tex/base/BaseConfiguration.js';
import 'mathjax-full/ts/input/tex/action/ActionConfiguration.js';
import 'mathjax-full/ts/input/tex/ams/AmsConfiguration.js';
import 'mathjax-full/ts/input/tex/configmacros/ConfigMacrosConfiguration.js';
import 'mathjax-full/ts/input/tex/mathtools/MathtoolsConfiguration.js';
import 'mathjax-full/ts/input/tex/mhchem/MhchemConfiguration.js';
import 'mathjax-full/ts/input/tex/newcommand/NewcommandConfiguration.js';
// What Anki's autoload would bring in on first use (AutoloadConfiguration's default list).
import 'mathjax-full/ts/input/tex/amscd/AmsCdConfiguration.js';
import 'mathjax-full/ts/input/tex/bbox/BboxConfiguration.js';
import 'mathjax-full/ts/input/tex/boldsymbol/BoldsymbolConfiguration.js';
import 'mathjax-full/ts/input/tex/braket/BraketConfiguration.js';
import 'mathjax-full/ts/input/tex/bussproofs/BussproofsConfiguration.js';
import 'mathjax-full/ts/input/tex/cancel/CancelConfiguration.js';
import 'mathjax-full/ts/input/tex/color/ColorConfiguration.js';
import 'mathjax-full/ts/input/tex/enclose/EncloseConfiguration.js';
import 'mathjax-full/ts/input/tex/extpfeil/ExtpfeilConfiguration.js';
import 'mathjax-full/ts/input/tex/html/HtmlConfiguration.js';
import 'mathjax-full/ts/input/tex/unicode/UnicodeConfiguration.js';
import 'mathjax-full/ts/input/tex/verb/VerbConfiguration.js';

const PACKAGES = [
  'base', 'action', 'ams', 'configmacros', 'mathtools', 'mhchem', 'newcommand',
  'amscd', 'bbox', 'boldsymbol', 'braket', 'bussproofs', 'cancel', 'color', 'enclose',
  'extpfeil', 'html', 'unicode', 'verb',
];

// \require{cancel} works on a card (Anki loads the package); here the package is bundled already.
// A package Anki could load but this bundle lacks (physics, …) is an error naming it.
const REQUIRE = 'studykit-require';
new CommandMap(REQUIRE, { require: 'Require' }, {
  Require(parser, name) {
    const required = parser.GetArgument(name);
    if (required.match(/[^_a-zA-Z0-9]/) || required === '') {
      throw new TexError('BadPackageName', 'Argument for %1 is not a valid package name', name);
    }
    if (!PACKAGES.includes(required)) {
      throw new TexError('BadRequire', 'Package "%1" is not in studykit\'s MathJax bundle', required);
    }
  },
});
Configuration.create(REQUIRE, { handler: { macro: [REQUIRE] } });

// The metrics MathJax's own node examples convert with (tex2svg): 16px em, 8px ex, 80em line.
// They only matter for text MathJax cannot draw from its fonts (its size is guessed from them);
// the test compares against node MathJax run with the same numbers.
const METRICS = { em: 16, ex: 8, containerWidth: 80 * 16 };

// Characters MathJax's fonts lack (CJK in \text{...}) come out as <text>; MathJax names only a
// generic family ("serif"), which a PDF renderer may satisfy with a font that has no CJK at all.
// Named CJK fonts first, then the generic family MathJax chose.
const TEXT_FAMILIES = '"Noto Sans CJK SC", "Noto Serif CJK SC", "Source Han Sans SC", "Microsoft YaHei", "PingFang SC", ';

const adaptor = liteAdaptor();
RegisterHTMLHandler(adaptor);
const tex = new TeX({
  packages: [...PACKAGES, REQUIRE],
  // Throw instead of drawing the message in red: the caller turns it into an error report.
  formatError: (jax, error) => { throw error; },
});
// fontCache 'local': each formula's glyphs come as <path id=… d=…> in its own <defs>, used by
// <use>; the caller renames the ids after their outlines so that one id means one outline.
const svg = new SVG({ fontCache: 'local' });
const html = mathjax.document('', { InputJax: tex, OutputJax: svg });
const X_HEIGHT = svg.font.params.x_height;

function message(error) {
  return (error && error.message) ? String(error.message) : String(error);
}

function fromEx(value) {
  // MathJax writes sizes as "1.234ex" (or "0"); back to font units (1000 per em).
  return parseFloat(value) * X_HEIGHT * 1000;
}

function stripData(node) {
  // data-mml-node, data-c, data-variant… describe MathML for MathJax's own menus; no use in a PDF.
  // Ids go too (a tag's "mjx-eqn:1", \cssId's): the same formula twice on a page would repeat them.
  if (!node.attributes) return;
  for (const name of Object.keys(node.attributes)) {
    if (name.startsWith('data-') || name === 'id') delete node.attributes[name];
  }
  for (const child of node.children || []) stripData(child);
}

function fixText(node) {
  if (node.kind === 'text' && node.attributes) {
    const family = node.attributes['font-family'] || 'serif';
    node.attributes['font-family'] = TEXT_FAMILIES + family;
  }
  for (const child of node.children || []) fixText(child);
}

// In a tagged display formula MathJax's mtable (topTable) undoes the outer pixel scaling with a
// "scale(x_height*1000/ex)" of its own; with the font-unit viewBox above there is none to undo.
const TABLE_TRANSFORM = /^(translate\(0 [-\d.]+\) matrix\(1 0 0 -1 0 0\)) scale\([\d.]+\)$/;
function unscaleTables(node) {
  if (node.kind === 'g' && node.attributes) {
    const match = TABLE_TRANSFORM.exec(node.attributes.transform || '');
    if (match) node.attributes.transform = match[1];
  }
  for (const child of node.children || []) unscaleTables(child);
}

// Each formula stands alone: forget \label-ed tags and \newcommand/\def definitions of the one
// before, so that a formula draws the same whatever was drawn earlier in the process.
const DEFINITIONS = ['new-Delimiter', 'new-Command', 'new-Environment'];
function forgetEarlierFormulas() {
  tex.reset();
  for (const name of DEFINITIONS) {
    const map = tex.parseOptions.handlers.retrieve(name);
    if (map && map.map instanceof Map) map.map.clear();
  }
}

// MathJax places a tagged formula and its tag in two nested <svg>s the size of the whole drawing
// (no width or height: 100%), each with a 1-unit-wide viewBox aligned left, centre or right.
// Chromium draws that; WeasyPrint draws them tiny and misplaced. Each becomes the <g> with the
// transform the nested viewport stands for (SVG's preserveAspectRatio "meet" arithmetic).
function flattenViewports(node, width, height) {
  for (const child of node.children || []) flattenViewports(child, width, height);
  const attributes = node.attributes;
  if (node.kind !== 'svg' || !attributes || attributes.width !== undefined || !attributes.viewBox) return;
  const [vx, vy, vw, vh] = attributes.viewBox.split(/\s+/).map(parseFloat);
  const align = attributes.preserveAspectRatio || 'xMidYMid';
  const scale = Math.min(width / vw, height / vh);
  const free = width - vw * scale;
  const x = (align.startsWith('xMin') ? 0 : align.startsWith('xMax') ? free : free / 2) - vx * scale;
  const y = (height - vh * scale) / 2 - vy * scale;
  node.kind = 'g';
  node.attributes = { transform: `translate(${x.toFixed(1)},${y.toFixed(1)}) scale(${+scale.toFixed(6)})` };
}

globalThis.studykitCheck = function (source, display) {
  forgetEarlierFormulas();
  try {
    html.convert(source, { display, end: STATE.COMPILED, ...METRICS });
    return '';
  } catch (error) {
    return message(error) || 'MathJax could not read the formula';
  }
};

globalThis.studykitRender = function (source, display) {
  let container;
  forgetEarlierFormulas();
  try {
    container = html.convert(source, { display, ...METRICS });
  } catch (error) {
    return { error: message(error) || 'MathJax could not draw the formula' };
  }
  const root = adaptor.firstChild(container);
  const style = adaptor.getAttribute(root, 'style') || '';
  const depthMatch = /vertical-align:\s*([-\d.]+)ex/.exec(style);
  const depth = depthMatch ? -fromEx(depthMatch[1]) : 0;
  const height = fromEx(adaptor.getAttribute(root, 'height'));
  let viewBox = adaptor.getAttribute(root, 'viewBox');
  // With fontCache 'local' the <svg> holds a <defs> of glyph outlines, then the drawing's <g>.
  const glyphs = [];
  const drawing = [];
  for (const child of adaptor.childNodes(root)) {
    if (adaptor.kind(child) === 'defs') {
      for (const path of adaptor.childNodes(child)) {
        glyphs.push([adaptor.getAttribute(path, 'id'), adaptor.getAttribute(path, 'd') || '']);
      }
      continue;
    }
    if (adaptor.getAttribute(root, 'width') === '100%' && adaptor.kind(child) === 'g') {
      // A display formula with a \tag: MathJax sizes it to the line and drops the viewBox. Give it
      // its least width instead (formula, then tag at the right), which MathJax puts in min-width.
      const minWidth = /min-width:\s*([-\d.]+)ex/.exec(style);
      const width = minWidth ? fromEx(minWidth[1]) : 0;
      viewBox = [0, (depth - height).toFixed(1), width.toFixed(1), height.toFixed(1)].join(' ');
      adaptor.setAttribute(child, 'transform', 'scale(1,-1)');
      unscaleTables(child);
      flattenViewports(child, width, height);
    }
    stripData(child);
    fixText(child);
    drawing.push(adaptor.outerHTML(child));
  }
  const body = drawing.join('');
  return { viewBox, body, glyphs, depth };
};

// Every command name the bundled packages define, for "did you mean" on an unknown one.
globalThis.studykitMacros = function () {
  const names = new Set();
  const handler = tex.parseOptions.handlers.get('macro');
  for (const { item } of handler._configuration) {
    const map = MapHandler.getMap(item.name) || item;
    if (map && map.map instanceof Map) {
      for (const name of map.map.keys()) names.add(name);
    }
  }
  return Array.from(names).sort();
};

globalThis.studykitVersion = mathjax.version;

// Many formulas in one call: each call from Python into V8 costs far more than a small formula
// takes to draw (mini-racer hops threads and compiles the call's script), so a batch saves ~30 %.
globalThis.studykitRenderMany = function (formulas) {
  return formulas.map(([source, display]) => globalThis.studykitRender(source, display));
};
