# Turns page.html into a C string (the portal serves it from the binary).
file(READ ${IN} content)
string(REPLACE "\\" "\\\\" content "${content}")
string(REPLACE "\"" "\\\"" content "${content}")
string(REPLACE "\n" "\\n\"\n\"" content "${content}")
file(WRITE ${OUT} "/* Generated from portal/page.html; do not edit. */\nconst char portal_page_html[] = \"${content}\";\n")
