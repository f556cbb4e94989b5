// Before the first paint: the theme the user chose last time, else the system's,
// followed as it changes until the user chooses. (A classic script in <head>,
// so the page never flashes the other theme; style.css has one dark palette.)
const systemDark = matchMedia("(prefers-color-scheme: dark)");
function applyTheme() {
  const chosen = localStorage.getItem("motiad.theme");
  document.documentElement.dataset.theme = chosen ?? (systemDark.matches ? "dark" : "light");
}
applyTheme();
systemDark.addEventListener("change", applyTheme);
