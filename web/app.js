// Entry point of the browser app.
document.getElementById('app').dataset.ready = 'true';
