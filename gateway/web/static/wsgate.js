// placeholder: the wsgate browser client is being written
export {};
