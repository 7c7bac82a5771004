// The Code tab: CodeMirror over each file's textarea (the form posts the textareas).
const modes = { py: "python", js: "javascript", mjs: "javascript", cjs: "javascript", json: { name: "javascript", json: true }, sh: "shell" };
document.querySelectorAll("textarea.code[data-filename]").forEach((area) => {
  const name = area.dataset.filename;
  const extension = name.includes(".") ? name.split(".").pop() : name === "bootstrap" ? "sh" : "";
  const editor = CodeMirror.fromTextArea(area, {
    mode: modes[extension] || null,
    lineNumbers: true,
    indentUnit: extension === "py" ? 4 : 2,
    extraKeys: { Tab: (cm) => cm.replaceSelection(" ".repeat(cm.getOption("indentUnit"))) },
    viewportMargin: Infinity,
    readOnly: area.readOnly,
  });
  area.closest("form").addEventListener("submit", () => editor.save());
  area.editor = editor;
});
