// Copy buttons: <button data-copy="ID"> copies the value of the element with that id, and says so.
document.addEventListener('click', async (event) => {
    const button = event.target.closest('button[data-copy]');
    if (!button) return;
    const field = document.getElementById(button.dataset.copy);
    if (!field) return;
    try {
        await navigator.clipboard.writeText(field.value ?? field.textContent);
    } catch {
        field.select?.();
        document.execCommand?.('copy');
    }
    const label = button.textContent;
    button.textContent = 'Copied';
    setTimeout(() => { button.textContent = label; }, 2000);
});
