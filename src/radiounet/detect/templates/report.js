// report.html: sorting and filtering of the gallery and the table, tabs, and the full view of a cluster.
(function () {
  'use strict';
  const $ = (selector) => document.querySelector(selector);
  const gallery = $('#gallery');
  const cards = Array.from(gallery.querySelectorAll('.card'));
  const rows = Array.from(document.querySelectorAll('#numbers tbody tr'));
  const controls = {sort: $('#sort'), kind: $('#filter-class'), status: $('#filter-status'),
                    minR: $('#min-r'), search: $('#search')};
  const dialog = $('#view');
  let shown = cards;   // the cards shown, in their order: the sequence of previous / next
  let current = null;  // the card whose full view is open

  // Numbers first (as numbers), then text; empty values (NaN, not measured) last in both directions.
  function compareValues(x, y, descending) {
    if (x === '' || y === '') return (x === '' ? 1 : 0) - (y === '' ? 1 : 0);
    const nx = Number(x), ny = Number(y);
    const result = (isNaN(nx) || isNaN(ny)) ? x.localeCompare(y, undefined, {numeric: true}) : nx - ny;
    return descending ? -result : result;
  }

  function passes(element) {
    const data = element.dataset;
    const minR = parseFloat(controls.minR.value);
    const text = controls.search.value.trim().toLowerCase();
    return (!controls.kind.value || data.class === controls.kind.value)
      && (!controls.status.value || data.status === controls.status.value)
      && (isNaN(minR) || (data.r !== '' && Number(data.r) >= minR))
      && (!text || data.name.toLowerCase().includes(text));
  }

  // The order of the sort menu, for the gallery and the table (a click on a column header re-sorts the table).
  function sort() {
    const [key, direction] = controls.sort.value.split('-');
    const order = (a, b) => compareValues(a.dataset[key], b.dataset[key], direction === 'desc');
    cards.sort(order).forEach((card) => gallery.appendChild(card));
    rows.sort(order).forEach((row) => row.parentElement.appendChild(row));
    document.querySelectorAll('#numbers th').forEach((th) => { delete th.dataset.order; });
  }

  function update() {
    cards.forEach((card) => { card.hidden = !passes(card); });
    rows.forEach((row) => { row.hidden = !passes(row); });
    shown = cards.filter((card) => !card.hidden);
    $('#shown').textContent = `${shown.length} of ${cards.length} clusters shown`;
    document.querySelectorAll('.chip').forEach((chip) => {
      const select = chip.dataset.filter === 'class' ? controls.kind : controls.status;
      chip.classList.toggle('active', select.value === chip.dataset.value);
    });
  }

  function sortTable(header, column) {
    const body = header.closest('table').tBodies[0];
    const descending = header.dataset.order === 'asc';
    header.parentElement.querySelectorAll('th').forEach((th) => { delete th.dataset.order; });
    header.dataset.order = descending ? 'desc' : 'asc';
    Array.from(body.rows)
      .sort((a, b) => compareValues(a.cells[column].dataset.v, b.cells[column].dataset.v, descending))
      .forEach((row) => body.appendChild(row));
  }

  function open(card) {
    current = card;
    $('#view-title').textContent = card.dataset.name;
    $('#view-body').replaceChildren($('#view-' + card.dataset.index).content.cloneNode(true));
    const position = shown.indexOf(card);
    $('#prev').disabled = position <= 0;
    $('#next').disabled = position < 0 || position >= shown.length - 1;
    if (!dialog.open) dialog.showModal();
  }

  function step(offset) {
    const position = shown.indexOf(current) + offset;
    if (current && position >= 0 && position < shown.length) open(shown[position]);
  }

  function showTab(name) {
    ['gallery', 'table'].forEach((tab) => {
      $('#tab-' + tab).setAttribute('aria-selected', String(tab === name));
    });
    gallery.hidden = name !== 'gallery';
    $('#numbers').hidden = name !== 'table';
  }

  const filters = [controls.kind, controls.status, controls.minR, controls.search];
  // A menu tells its choice by 'change', a text field each keystroke by 'input'.
  filters.forEach((control) => {
    control.addEventListener(control.tagName === 'SELECT' ? 'change' : 'input', update);
  });
  controls.sort.addEventListener('change', () => { sort(); update(); });
  $('#reset').addEventListener('click', () => {
    controls.sort.value = 'r-desc';
    filters.forEach((control) => { control.value = ''; });
    sort();
    update();
  });
  document.querySelectorAll('.chip').forEach((chip) => chip.addEventListener('click', () => {
    const select = chip.dataset.filter === 'class' ? controls.kind : controls.status;
    select.value = select.value === chip.dataset.value ? '' : chip.dataset.value;
    update();
  }));
  gallery.addEventListener('click', (event) => {
    const card = event.target.closest('.card');
    if (card) open(card);
  });
  gallery.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && event.target.classList.contains('card')) open(event.target);
  });
  $('#numbers').addEventListener('click', (event) => {
    const link = event.target.closest('a.open');
    if (!link) return;
    event.preventDefault();
    open($('#card-' + link.closest('tr').dataset.index));
  });
  document.querySelectorAll('#numbers th').forEach((header, column) => {
    header.addEventListener('click', () => sortTable(header, column));
  });
  $('#tab-gallery').addEventListener('click', () => showTab('gallery'));
  $('#tab-table').addEventListener('click', () => showTab('table'));
  $('#prev').addEventListener('click', () => step(-1));
  $('#next').addEventListener('click', () => step(1));
  $('#close').addEventListener('click', () => dialog.close());
  dialog.addEventListener('click', (event) => { if (event.target === dialog) dialog.close(); });
  dialog.addEventListener('keydown', (event) => {
    if (event.key === 'ArrowLeft') step(-1);
    if (event.key === 'ArrowRight') step(1);
  });
  sort();
  update();
}());
