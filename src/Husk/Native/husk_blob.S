/* Embeds a program built first (husk-init, husk-pool) into the native stage: built once per
 * program, with BLOB_PATH its file and BLOB_START/BLOB_END the symbols around its bytes. */
    .section .rodata
    .balign 16
    .global BLOB_START
    .hidden BLOB_START
BLOB_START:
    .incbin BLOB_PATH
    .global BLOB_END
    .hidden BLOB_END
BLOB_END:
    .byte 0
    .section .note.GNU-stack,"",@progbits
