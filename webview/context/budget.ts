// The token budget as a meter: tokens in context against the budget, within the model's context window.
import type { ContextReport } from '../../extension/engine/protocol';
import { h } from '../shared/dom';
import { formatCount, formatPercent } from '../shared/format';

const SVG = 'http://www.w3.org/2000/svg';

function bar(className: string, from: number, to: number): SVGRectElement {
  const rect = document.createElementNS(SVG, 'rect');
  for (const [name, value] of Object.entries({
    class: className,
    x: from,
    y: 0,
    width: Math.max(0, to - from),
    height: 10,
  })) {
    rect.setAttribute(name, String(value));
  }
  return rect;
}

/** The meter (role="meter", value = tokens, max = budget) and the numbers in words. */
export function budgetMeter(totals: ContextReport['totals']): HTMLElement {
  const { tokens, budget, modelContext } = totals;
  const scale = (n: number) => (modelContext > 0 ? (1000 * Math.min(n, modelContext)) / modelContext : 0);
  const graphic = document.createElementNS(SVG, 'svg');
  for (const [name, value] of Object.entries({
    viewBox: '0 0 1000 10',
    preserveAspectRatio: 'none',
    'aria-hidden': 'true',
    class: 'budget-graphic',
  })) {
    graphic.setAttribute(name, value);
  }
  graphic.append(
    bar('budget-window', 0, 1000),
    bar('budget-allowed', 0, scale(budget)),
    bar('budget-used', 0, scale(tokens)),
  );
  const text = `${formatCount(tokens)} of ${formatCount(budget)} tokens budgeted (${formatPercent(tokens, budget)}); the model's context is ${formatCount(modelContext)} tokens`;
  return h(
    'div',
    { class: 'budget' },
    h(
      'div',
      {
        class: 'budget-meter',
        role: 'meter',
        'aria-label': 'Context budget',
        'aria-valuemin': 0,
        'aria-valuemax': budget,
        'aria-valuenow': tokens,
        'aria-valuetext': text,
      },
      graphic,
    ),
    h('p', { class: 'budget-text' }, text),
  );
}
