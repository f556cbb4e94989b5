// Before the first paint: the theme the user chose last time, if any.
// (A classic script in <head>, so the page never flashes the other theme.)
const theme = localStorage.getItem("motiad.theme");
if (theme) document.documentElement.dataset.theme = theme;
