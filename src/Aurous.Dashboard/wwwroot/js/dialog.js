// Opens and closes a <dialog> as a modal for interactive components. The browser moves focus into the dialog on
// showModal() and back to the control that opened it on close().
export function open(dialog) {
    if (dialog && !dialog.open) {
        dialog.showModal();
    }
}

export function close(dialog) {
    if (dialog && dialog.open) {
        dialog.close();
    }
}
