/* Embeds the husk-init executable (built first) into the native stage. */
    .section .rodata
    .balign 16
    .global husk_init_start
    .hidden husk_init_start
husk_init_start:
    .incbin HUSK_INIT_PATH
    .global husk_init_end
    .hidden husk_init_end
husk_init_end:
    .byte 0
    .section .note.GNU-stack,"",@progbits
