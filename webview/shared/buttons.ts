// Buttons of the views: a <vscode-button> that posts a message to the host when activated.
import type { WebviewMessage } from '../protocol';
import { h } from './dom';
import { post } from './vscode';

export interface ButtonOptions {
  icon?: string;
  secondary?: boolean;
  /** Accessible name when it differs from the visible label. */
  ariaLabel?: string;
}

/** A <vscode-button> running `onClick` on click (and Enter/Space, which the element turns into a click). */
export function button(label: string, onClick: () => void, options: ButtonOptions = {}): HTMLElement {
  const element = h(
    'vscode-button',
    { icon: options.icon, secondary: options.secondary, 'aria-label': options.ariaLabel ?? label },
    label,
  );
  element.addEventListener('click', onClick);
  return element;
}

/** A button that posts `message`. */
export function postButton(label: string, message: WebviewMessage, options: ButtonOptions = {}): HTMLElement {
  return button(label, () => post(message), options);
}
